import * as fs from 'node:fs';
import * as path from 'node:path';
import { PUBLIC_FILE_MODE, SECRET_FILE_MODE, writeFileAtomic } from './atomic-file';
import {
  type CertificateAndKey,
  type CertificateSummary,
  createCertificateAuthority,
  createServerCertificate,
  describeCertificate,
  keyMatchesCertificate,
  parseCertificate,
  parsePrivateKey,
  registrySubjectAltNames,
} from './certificates';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE_NAME } from './defaults';
import { MATERIAL_FILES, materialAddressesOf } from './material';
import { assertMaterialDir, copyToBackup } from './material-dir';
import { parseRegistriesYaml } from './registries-yaml';
import { ValidationError } from './validate';

/** Fewer days left than this and `certs show` warns and `doctor` fails. */
export const EXPIRY_WARNING_DAYS = 30;

/** One certificate of the material directory, as `certs show` reports it. */
export interface MaterialCertificate {
  /** e.g. "ca.crt" */
  readonly name: string;
  /** The file, as a path under the material directory. */
  readonly file: string;
  readonly summary: CertificateSummary;
}

/** Options of renewCertificates. */
export interface RenewOptions {
  /** Make a new CA too. Nodes and desktops that trust the old CA must be given the new one. @default false */
  readonly rotateCa?: boolean;
  /** @default 825 */
  readonly certValidityDays?: number;
  /** Only with `rotateCa`. @default 3650 */
  readonly caValidityDays?: number;
  /** @default - the current time */
  readonly now?: Date;
}

/** What renewCertificates did. */
export interface RenewResult {
  /** Where the files were before the renewal. */
  readonly backupDir: string;
  readonly ca: CertificateSummary;
  readonly tls: CertificateSummary;
  readonly rotatedCa: boolean;
  /** Names the old certificate lacked and the new one has. */
  readonly addedNames: string[];
}

/** The CA and the server certificate of the material in `dir`. */
export function describeMaterialCertificates(dir: string, now: Date = new Date()): MaterialCertificate[] {
  assertMaterialDir(dir);
  return [MATERIAL_FILES.caCertificate, MATERIAL_FILES.tlsCertificate].map((relativePath) => {
    const file = path.join(dir, relativePath);
    return {
      name: path.basename(relativePath),
      file,
      summary: describeCertificate(readMaterialFile(file, dir), now, file),
    };
  });
}

/**
 * A new server certificate (and key) from the same CA, so nodes keep trusting it; with `rotateCa`, a new CA
 * as well. The names are the old certificate's plus any the registry needs and it lacked (a certificate
 * made by hand from the guide has no SANs at all). The directory is copied to a backup first; each file
 * is then replaced atomically.
 */
export function renewCertificates(dir: string, options: RenewOptions = {}): RenewResult {
  assertMaterialDir(dir);
  const now = options.now ?? new Date();
  const rotateCa = options.rotateCa ?? false;
  if (options.caValidityDays !== undefined && !rotateCa) {
    throw new ValidationError(
      `'caValidityDays' only applies with 'rotateCa': the CA is kept; drop it or rotate the CA`,
    );
  }
  const file = (relativePath: string): string => path.join(dir, relativePath);
  const read = (relativePath: string): string => readMaterialFile(file(relativePath), dir);

  const old = describeCertificate(read(MATERIAL_FILES.tlsCertificate), now, file(MATERIAL_FILES.tlsCertificate));
  const registries = parseRegistriesYaml(read(MATERIAL_FILES.registriesYaml), file(MATERIAL_FILES.registriesYaml));
  const { hostname } = materialAddressesOf(registries, file(MATERIAL_FILES.registriesYaml));
  const ca = rotateCa
    ? createCertificateAuthority({ validityDays: options.caValidityDays, now })
    : readCertificateAuthority(dir);
  // The Service names synth gives the registry (charts/main.ts keeps RegistryChart's defaults).
  const required = registrySubjectAltNames(hostname, DEFAULT_SERVICE_NAME, DEFAULT_NAMESPACE);
  const dnsNames = [...new Set([...old.dnsNames, ...required.dnsNames])];
  const ipAddresses = [...new Set([...old.ipAddresses, ...required.ipAddresses])];
  const tls = createServerCertificate({
    ca,
    subjectAltNames: { dnsNames, ipAddresses },
    validityDays: options.certValidityDays,
    now,
  });

  const backupDir = copyToBackup(dir, now);
  // Keys before certificates: a reader between two writes sees a key whose certificate is on its way.
  if (rotateCa) writeFileAtomic(file(MATERIAL_FILES.caKey), ca.privateKeyPem, SECRET_FILE_MODE);
  writeFileAtomic(file(MATERIAL_FILES.tlsKey), tls.privateKeyPem, SECRET_FILE_MODE);
  if (rotateCa) writeFileAtomic(file(MATERIAL_FILES.caCertificate), ca.certificatePem, PUBLIC_FILE_MODE);
  writeFileAtomic(file(MATERIAL_FILES.tlsCertificate), tls.certificatePem, PUBLIC_FILE_MODE);

  const oldNames = new Set([...old.dnsNames, ...old.ipAddresses]);
  return {
    backupDir,
    ca: describeCertificate(ca.certificatePem, now),
    tls: describeCertificate(tls.certificatePem, now),
    rotatedCa: rotateCa,
    addedNames: [...dnsNames, ...ipAddresses].filter((name) => !oldNames.has(name)),
  };
}

// Not readMaterial: renewing is the repair doctor prescribes for a server certificate or key that readMaterial
// rejects (another CA's, a mismatched key), so only the files a renewal needs are read and checked.
function readCertificateAuthority(dir: string): CertificateAndKey {
  const certFile = path.join(dir, MATERIAL_FILES.caCertificate);
  const keyFile = path.join(dir, MATERIAL_FILES.caKey);
  const ca = { certificatePem: readMaterialFile(certFile, dir), privateKeyPem: readMaterialFile(keyFile, dir) };
  parseCertificate(ca.certificatePem, certFile);
  parsePrivateKey(ca.privateKeyPem, keyFile);
  if (!keyMatchesCertificate(ca.certificatePem, ca.privateKeyPem)) {
    throw new ValidationError(
      `${keyFile} does not belong to ${certFile}: restore the matching pair from a backup, or make a new CA with 'rotateCa'`,
    );
  }
  return ca;
}

function readMaterialFile(file: string, dir: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw new ValidationError(
      `${file} is missing or unreadable: restore it from a backup (${dir}.backup-*), or create new material (private-registry init --force)`,
    );
  }
}
