import path from 'node:path';
import { PUBLIC_FILE_MODE, SECRET_FILE_MODE } from './atomic-file';
import {
  assertCertificatePem,
  assertPrivateKeyPem,
  type CertificateAndKey,
  type CertificateSummary,
  ROTATE_CA_FIX,
  assertCertificateCurrent,
  createCertificateAuthority,
  createServerCertificate,
  describeCertificate,
  keyMatchesCertificate,
  type SubjectAltNames,
  caConstraintProblem,
  namesOutsideConstraints,
  permittedNamesOf,
  registryNameConstraints,
  registrySubjectAltNames,
} from './certificates';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE_NAME } from './defaults';
import { materialAddressesOf } from './material-addresses';
import { MATERIAL_FILES } from './material-files';
import { assertMaterialDir, copyToBackup, readMaterialText } from './material-dir';
import { commitMaterialChange, underMaterialLock } from './material-transaction';
import { parseRegistriesYaml } from './registries-yaml';
import { ValidationError, assertDnsLabel, assertServiceName } from './validate';

export { EXPIRY_WARNING_DAYS } from './certificates';

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
  /**
   * The Service the certificate is for: its names go into the certificate (and, with `rotateCa`, into the
   * CA's name constraints). Give them when the registry runs under another name or namespace.
   * @default 'container-registry'
   */
  readonly serviceName?: string;
  /** The namespace of that Service. @default 'container-registry' */
  readonly namespace?: string;
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
  return underMaterialLock(dir, () => describeUnderLock(dir, now), { reader: true });
}

function describeUnderLock(dir: string, now: Date): MaterialCertificate[] {
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
 * made by hand from the guide has no SANs at all). The directory is copied to a backup first; the new files
 * then replace the old ones in one transaction.
 */
export function renewCertificates(dir: string, options: RenewOptions = {}): RenewResult {
  return underMaterialLock(dir, () => renewUnderLock(dir, options));
}

function renewUnderLock(dir: string, options: RenewOptions): RenewResult {
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
  const serviceName = options.serviceName ?? DEFAULT_SERVICE_NAME;
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  assertServiceName('serviceName', serviceName);
  assertDnsLabel('namespace', namespace);
  // The Service names synth gives the registry (charts/main.ts keeps RegistryChart's defaults).
  const ca = rotateCa
    ? createCertificateAuthority({
        validityDays: options.caValidityDays,
        now,
        permittedNames: registryNameConstraints(hostname, serviceName, namespace),
      })
    : readCertificateAuthority(dir, now);
  const constraintProblem = caConstraintProblem(
    ca.certificatePem,
    hostname,
    serviceName,
    namespace,
    file(MATERIAL_FILES.caCertificate),
  );
  if (constraintProblem !== undefined) throw new ValidationError(constraintProblem);
  const required = registrySubjectAltNames(hostname, serviceName, namespace);
  // An old name the CA may not vouch for is dropped: a certificate naming it would be rejected whole.
  const permitted = permittedNamesOf(ca.certificatePem);
  const kept = (names: SubjectAltNames): SubjectAltNames =>
    permitted === undefined
      ? names
      : {
          dnsNames: names.dnsNames.filter(
            (name) => namesOutsideConstraints({ dnsNames: [name], ipAddresses: [] }, permitted).length === 0,
          ),
          ipAddresses: names.ipAddresses.filter((ip) => permitted.ipAddresses.includes(ip)),
        };
  const oldKept = kept(old);
  const dnsNames = [...new Set([...oldKept.dnsNames, ...required.dnsNames])];
  const ipAddresses = [...new Set([...oldKept.ipAddresses, ...required.ipAddresses])];
  const tls = createServerCertificate({
    ca,
    subjectAltNames: { dnsNames, ipAddresses },
    validityDays: options.certValidityDays,
    now,
  });

  const backupDir = copyToBackup(dir, now);
  const secret = (relativePath: string, content: string) => ({ relativePath, content, mode: SECRET_FILE_MODE });
  const open = (relativePath: string, content: string) => ({ relativePath, content, mode: PUBLIC_FILE_MODE });
  commitMaterialChange(dir, {
    write: [
      ...(rotateCa
        ? [secret(MATERIAL_FILES.caKey, ca.privateKeyPem), open(MATERIAL_FILES.caCertificate, ca.certificatePem)]
        : []),
      secret(MATERIAL_FILES.tlsKey, tls.privateKeyPem),
      open(MATERIAL_FILES.tlsCertificate, tls.certificatePem),
    ],
  });

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
function readCertificateAuthority(dir: string, now: Date): CertificateAndKey {
  const certFile = path.join(dir, MATERIAL_FILES.caCertificate);
  const keyFile = path.join(dir, MATERIAL_FILES.caKey);
  const ca = { certificatePem: readMaterialFile(certFile, dir), privateKeyPem: readMaterialFile(keyFile, dir) };
  assertCertificatePem(ca.certificatePem, certFile);
  assertPrivateKeyPem(ca.privateKeyPem, keyFile);
  if (!keyMatchesCertificate(ca.certificatePem, ca.privateKeyPem)) {
    throw new ValidationError(
      `${keyFile} does not belong to ${certFile}: restore the matching pair from a backup, or make a new CA with 'rotateCa'`,
    );
  }
  // A certificate from an expired CA verifies nowhere: only a new CA helps.
  assertCertificateCurrent(ca.certificatePem, certFile, ROTATE_CA_FIX, now);
  return ca;
}

function readMaterialFile(file: string, dir: string): string {
  return readMaterialText(
    file,
    `restore it from a backup (${dir}.backup-*), or create new material (private-registry init --force)`,
  );
}
