import fs from 'node:fs';
import path from 'node:path';
import { type FileToWrite, PUBLIC_FILE_MODE, SECRET_FILE_MODE } from './atomic-file';
import {
  type CertificateAndKey,
  RENEW_CERTIFICATE_FIX,
  ROTATE_CA_FIX,
  assertCertificateCurrent,
  createCertificateAuthority,
  createServerCertificate,
  generateRsaPrivateKey,
  registryNameConstraints,
  isSignedBy,
  parseCertificate,
  parsePrivateKey,
  registrySubjectAltNames,
} from './certificates';
import {
  DEFAULT_BCRYPT_COST,
  DEFAULT_NAMESPACE,
  DEFAULT_NODE_PORT,
  DEFAULT_REGISTRY_HOSTNAME,
  DEFAULT_REGISTRY_PORT,
  DEFAULT_SERVICE_NAME,
  DEFAULT_USERNAME,
} from './defaults';
import { containerdHostsFiles } from './containerd-hosts';
import { type MaterialAddresses, materialAddressesOf, nodeCredentialsOf } from './material-addresses';
import { assertMaterialPath } from './material-dir';
import {
  CONTAINERD_HOSTS_DIR,
  MATERIAL_FILES,
  type MaterialFile,
  NODE_CA_FILE,
  SECRET_MATERIAL_FILES,
} from './material-files';
import { assertCurrentLayout } from './material-layout';
import {
  type Credentials,
  type HtpasswdEntry,
  createHtpasswd,
  parseHtpasswd,
  validatePassword,
  validateUsername,
} from './htpasswd';
import { type RandomSource, generatePassword, secureRandom } from './random';
import {
  CACHES_FILE,
  type CacheRequest,
  type MaterialCache,
  cachesDisagreement,
  parseCachesFile,
  readCachesFile,
  renderCachesFile,
  resolveMaterialCaches,
} from './material-caches-file';
import { createMaterialDirectory, underMaterialLock } from './material-transaction';
import {
  type RegistriesConfig,
  cacheMirrorsOf,
  nodeRegistriesConfig,
  parseRegistriesYaml,
  renderRegistriesYaml,
} from './registries-yaml';
import {
  ValidationError,
  assertDnsLabel,
  assertNodePort,
  assertPort,
  assertRegistryHostname,
  assertServiceName,
} from './validate';

/**
 * The node material: what the k3d volume mounts at /registry on every node, and what the registry's
 * Secrets are made from. Same layout as the guide's `registry/` directory.
 */
export interface RegistryMaterial {
  readonly ca: CertificateAndKey;
  readonly tls: CertificateAndKey;
  readonly htpasswd: string;
  readonly registries: RegistriesConfig;
  /** The user the nodes pull with, as written in registries.yaml. */
  readonly nodeCredentials: Credentials;
  /**
   * The pull-through caches (caches/upstreams.json, desktop-only), with their upstream credentials; what
   * RegistryChart deploys unless given its own `caches`.
   * @default - none
   */
  readonly caches?: readonly MaterialCache[];
}

/** Options of generateMaterial and loadOrCreateMaterial: the names, ports, user and lifetimes. */
export interface MaterialOptions {
  /** @default 'container-registry.local' */
  readonly hostname?: string;
  /** @default 'container-registry' */
  readonly serviceName?: string;
  /** @default 'container-registry' */
  readonly namespace?: string;
  /** @default 5000 */
  readonly registryPort?: number;
  /** @default 31113 */
  readonly nodePort?: number;
  /** @default 'registry' */
  readonly username?: string;
  /**
   * Pull-through caches to start with (`private-registry init --cache docker.io`); add or remove them later
   * with `private-registry cache add` / `cache rm`.
   * @default - none
   */
  readonly caches?: readonly CacheRequest[];
  /** @default - a random 24-character password */
  readonly password?: string;
  /** @default 3650 */
  readonly caValidityDays?: number;
  /** @default 825 */
  readonly certValidityDays?: number;
  /** @default 4 (see DEFAULT_BCRYPT_COST) */
  readonly bcryptCost?: number;
  /** @default - the operating system's CSPRNG */
  readonly random?: RandomSource;
  /** @default - the current time */
  readonly now?: Date;
  /**
   * The CA's and the server certificate's RSA keys, made ahead (generateMaterialKeys) while other work runs.
   * @default - new keys, made with the material
   */
  readonly keys?: MaterialKeys;
}

/** The two RSA private keys (PKCS#1 PEM, 2048 bits) new material is made with. */
export interface MaterialKeys {
  readonly caPrivateKeyPem: string;
  readonly serverPrivateKeyPem: string;
}

/** Both keys of new material, their four primes made at the same time in Node's thread pool (lib/rsa-key.ts). */
export async function generateMaterialKeys(): Promise<MaterialKeys> {
  const [caPrivateKeyPem, serverPrivateKeyPem] = await Promise.all([generateRsaPrivateKey(), generateRsaPrivateKey()]);
  return { caPrivateKeyPem, serverPrivateKeyPem };
}

export { NODE_DIR, NODE_DIRECTORY_MODE } from './defaults';
export {
  CONTAINERD_HOSTS_DIR,
  MATERIAL_FILES,
  type MaterialFile,
  NODE_CA_FILE,
  SECRET_MATERIAL_FILES,
  nodePathOf,
} from './material-files';
export {
  type MaterialAddresses,
  materialAddressesOf,
  nodeConfigKey,
  nodeCredentialsOf,
} from './material-addresses';
export { assertMaterialPath } from './material-dir';
export { cachesDisagreement } from './material-caches-file';

const modeOf = (relativePath: MaterialFile): number =>
  SECRET_MATERIAL_FILES.includes(relativePath) ? SECRET_FILE_MODE : PUBLIC_FILE_MODE;

/** New material in memory: a CA, a server certificate for every name clients use, an htpasswd and registries.yaml. */
export function generateMaterial(options: MaterialOptions = {}): RegistryMaterial {
  const hostname = options.hostname ?? DEFAULT_REGISTRY_HOSTNAME;
  const serviceName = options.serviceName ?? DEFAULT_SERVICE_NAME;
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const registryPort = options.registryPort ?? DEFAULT_REGISTRY_PORT;
  const nodePort = options.nodePort ?? DEFAULT_NODE_PORT;
  const username = options.username ?? DEFAULT_USERNAME;
  assertRegistryHostname('hostname', hostname);
  assertServiceName('serviceName', serviceName);
  assertDnsLabel('namespace', namespace);
  assertPort('registryPort', registryPort);
  assertNodePort('nodePort', nodePort);
  validateUsername(username);
  if (options.password !== undefined) validatePassword(options.password, username);

  const caches = resolveMaterialCaches([], options.caches ?? [], { hostname, registryPort });
  const random = options.random ?? secureRandom;
  const password = options.password ?? generatePassword(random);
  const ca = createCertificateAuthority({
    validityDays: options.caValidityDays,
    now: options.now,
    privateKeyPem: options.keys?.caPrivateKeyPem,
    permittedNames: registryNameConstraints(hostname, serviceName, namespace),
  });
  const tls = createServerCertificate({
    ca,
    subjectAltNames: registrySubjectAltNames(hostname, serviceName, namespace),
    validityDays: options.certValidityDays,
    now: options.now,
    privateKeyPem: options.keys?.serverPrivateKeyPem,
  });
  const nodeCredentials = { username, password };
  const registries = nodeRegistriesConfig({
    hostname,
    registryPort,
    nodePort,
    credentials: nodeCredentials,
    caFile: NODE_CA_FILE,
    caches,
  });
  if (caches.length > 0) assertCachesReadBack(CACHES_FILE, caches, registries);
  return {
    ca,
    tls,
    htpasswd: createHtpasswd([nodeCredentials], options.bcryptCost ?? DEFAULT_BCRYPT_COST, random),
    registries,
    nodeCredentials,
    caches,
  };
}

/** The files of the material directory, with their modes: keys, credentials and htpasswd are 0600. */
export function materialFiles(material: RegistryMaterial): FileToWrite[] {
  return [
    {
      relativePath: MATERIAL_FILES.caCertificate,
      content: material.ca.certificatePem,
      mode: modeOf(MATERIAL_FILES.caCertificate),
    },
    { relativePath: MATERIAL_FILES.caKey, content: material.ca.privateKeyPem, mode: modeOf(MATERIAL_FILES.caKey) },
    {
      relativePath: MATERIAL_FILES.tlsCertificate,
      content: material.tls.certificatePem,
      mode: modeOf(MATERIAL_FILES.tlsCertificate),
    },
    { relativePath: MATERIAL_FILES.tlsKey, content: material.tls.privateKeyPem, mode: modeOf(MATERIAL_FILES.tlsKey) },
    {
      relativePath: MATERIAL_FILES.registriesYaml,
      content: renderRegistriesYaml(material.registries),
      mode: modeOf(MATERIAL_FILES.registriesYaml),
    },
    { relativePath: MATERIAL_FILES.htpasswd, content: material.htpasswd, mode: modeOf(MATERIAL_FILES.htpasswd) },
    {
      relativePath: MATERIAL_FILES.password,
      content: `${material.nodeCredentials.password}\n`,
      mode: SECRET_FILE_MODE,
    },
    // Desktop-only: it may hold upstream credentials. No caches, no file.
    ...(material.caches === undefined || material.caches.length === 0
      ? []
      : [{ relativePath: CACHES_FILE, content: renderCachesFile(material.caches), mode: SECRET_FILE_MODE }]),
    // For containerd clusters that are not k3s (kind, plain containerd): what k3s derives from registries.yaml.
    ...containerdHostsFiles(material.registries).map((file) => ({
      relativePath: `${CONTAINERD_HOSTS_DIR}/${file.host}/hosts.toml`,
      content: file.content,
      mode: PUBLIC_FILE_MODE,
    })),
  ];
}

/**
 * Writes new material into `dir`: all files or none (see createMaterialDirectory). `dir` must not exist,
 * unless `backupPath` is given: then the old directory is moved there in the same transaction.
 */
export function writeNewMaterial(
  dir: string,
  material: RegistryMaterial,
  backupPath?: (dir: string) => string,
): string | undefined {
  assertMaterialPath(dir);
  return createMaterialDirectory(dir, materialFiles(material), backupPath);
}

/** How readMaterial judges the material besides its files agreeing with each other. */
export interface ReadMaterialOptions {
  /**
   * Refuse a CA or server certificate that is expired or not yet valid: what is deployed from it would not
   * verify. Off only for commands that manage users, which must work while a renewal is due.
   * @default true
   */
  readonly requireCurrentCertificates?: boolean;
  /** @default - the current time */
  readonly now?: Date;
}

/**
 * Reads and cross-checks the material in `dir`; every error names the file and the fix. Reads under the
 * material lock, so a command changing the material is seen before or after, never halfway.
 */
export function readMaterial(dir: string, options: ReadMaterialOptions = {}): RegistryMaterial {
  assertMaterialPath(dir);
  return underMaterialLock(dir, () => readMaterialFiles(dir, options), { reader: true });
}

function readMaterialFiles(dir: string, options: ReadMaterialOptions): RegistryMaterial {
  assertCurrentLayout(dir);
  const read = (relativePath: string): string => readMaterialFileText(dir, relativePath);
  const file = (relativePath: string) => path.join(dir, relativePath);
  const ca = { certificatePem: read(MATERIAL_FILES.caCertificate), privateKeyPem: read(MATERIAL_FILES.caKey) };
  const tls = { certificatePem: read(MATERIAL_FILES.tlsCertificate), privateKeyPem: read(MATERIAL_FILES.tlsKey) };
  // Each file parsed once, natively; the pairs and the chain checked on the parsed objects.
  const caCertificate = parseCertificate(ca.certificatePem, file(MATERIAL_FILES.caCertificate));
  const tlsCertificate = parseCertificate(tls.certificatePem, file(MATERIAL_FILES.tlsCertificate));
  const caKey = parsePrivateKey(ca.privateKeyPem, file(MATERIAL_FILES.caKey));
  const tlsKey = parsePrivateKey(tls.privateKeyPem, file(MATERIAL_FILES.tlsKey));
  if (!caCertificate.checkPrivateKey(caKey)) {
    throw new ValidationError(
      `${file(MATERIAL_FILES.caKey)} does not belong to ${file(MATERIAL_FILES.caCertificate)}: restore the matching pair`,
    );
  }
  if (!tlsCertificate.checkPrivateKey(tlsKey)) {
    throw new ValidationError(
      `${file(MATERIAL_FILES.tlsKey)} does not belong to ${file(MATERIAL_FILES.tlsCertificate)}: restore the matching pair or renew the certificate`,
    );
  }
  if (!isSignedBy(tlsCertificate, caCertificate)) {
    throw new ValidationError(
      `${file(MATERIAL_FILES.tlsCertificate)} is not signed by ${file(MATERIAL_FILES.caCertificate)}: renew the server certificate from this CA`,
    );
  }
  if (options.requireCurrentCertificates ?? true) {
    const now = options.now ?? new Date();
    assertCertificateCurrent(ca.certificatePem, file(MATERIAL_FILES.caCertificate), ROTATE_CA_FIX, now);
    assertCertificateCurrent(tls.certificatePem, file(MATERIAL_FILES.tlsCertificate), RENEW_CERTIFICATE_FIX, now);
  }
  const { htpasswd } = readMaterialHtpasswd(dir);
  const { registries, nodeCredentials, addresses } = readMaterialRegistries(dir);
  const caches = readAgreeingCaches(dir, registries, addresses);
  return { ca, tls, htpasswd, registries, nodeCredentials, caches };
}

/**
 * The text of a material file; when it cannot be read, the error every reader of the material gives. Like
 * the three readers below, it is the part of readMaterial a command uses that needs only that part (user
 * list, cache list): no certificate or key is parsed.
 */
export function readMaterialFileText(dir: string, relativePath: string): string {
  const file = path.join(dir, relativePath);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw new ValidationError(
      `${file} is missing or unreadable: restore it from a backup, or move ${dir} away and synthesize again to create new material`,
    );
  }
}

/** The htpasswd and its users, refused as readMaterial refuses it: a broken line, or no user at all. */
export function readMaterialHtpasswd(dir: string): { htpasswd: string; entries: HtpasswdEntry[] } {
  const file = path.join(dir, MATERIAL_FILES.htpasswd);
  const htpasswd = readMaterialFileText(dir, MATERIAL_FILES.htpasswd);
  const entries = parseHtpasswd(htpasswd, file);
  if (entries.length === 0) {
    throw new ValidationError(
      `${file} has no users: nobody could log in to the registry; restore it from a backup, or add a user (private-registry user add NAME)`,
    );
  }
  return { htpasswd, entries };
}

/** registries.yaml, with the nodes' credentials and the registry's addresses it must give. */
export function readMaterialRegistries(dir: string): {
  registries: RegistriesConfig;
  nodeCredentials: Credentials;
  addresses: MaterialAddresses;
} {
  const file = path.join(dir, MATERIAL_FILES.registriesYaml);
  const registries = parseRegistriesYaml(readMaterialFileText(dir, MATERIAL_FILES.registriesYaml), file);
  const nodeCredentials = nodeCredentialsOf(registries, file);
  // Checked here so that a bad port or name is blamed on the file, not on a construct prop nobody gave.
  const addresses = materialAddressesOf(registries, file);
  return { registries, nodeCredentials, addresses };
}

/** The caches file's caches, refused unless registries.yaml mirrors exactly them, each on its port. */
export function readAgreeingCaches(
  dir: string,
  registries: RegistriesConfig,
  addresses: MaterialAddresses,
): MaterialCache[] {
  const caches = readCachesFile(dir);
  const problem = cachesDisagreement(caches, cacheMirrorsOf(registries, addresses.hostname, addresses.registryPort));
  if (problem !== undefined) {
    throw new ValidationError(
      `${path.join(dir, CACHES_FILE)} and ${path.join(dir, MATERIAL_FILES.registriesYaml)} disagree: ${problem}; restore both from a backup (${dir}.backup-*), or remove that cache and add it again (private-registry cache rm / cache add)`,
    );
  }
  return caches;
}

/**
 * Refuses to store caches that readMaterial would then refuse (the caches file's checks, its agreement with
 * registries.yaml, and, given the registries.yaml `before`, the registry's own two mirrors unchanged): every
 * later command would refuse the material too. `file` is the caches file, named in messages.
 */
export function assertCachesReadBack(
  file: string,
  caches: readonly MaterialCache[],
  registries: RegistriesConfig,
  before?: RegistriesConfig,
): void {
  try {
    parseCachesFile(renderCachesFile(caches), file);
    const { hostname, registryPort, nodePort } = materialAddressesOf(registries);
    for (const own of [`${hostname}:${registryPort}`, `localhost:${nodePort}`]) {
      if (before !== undefined && JSON.stringify(registries.mirrors[own]) !== JSON.stringify(before.mirrors[own])) {
        throw new ValidationError(`the registry's own mirror ${own} would change`);
      }
    }
    const problem = cachesDisagreement(caches, cacheMirrorsOf(registries, hostname, registryPort));
    if (problem !== undefined) throw new ValidationError(problem);
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    throw new ValidationError(
      `refusing to store caches the material could not be read back with (${error.message}): nothing was changed; choose another upstream or port`,
    );
  }
}

/**
 * Reads the material in `dir`, or creates it there when `dir` does not exist. Never overwrites. `recovered`
 * says what a killed command had left and this call finished or removed first (see recoverMaterial).
 */
export function loadOrCreateMaterial(
  dir: string,
  options: MaterialOptions = {},
): { material: RegistryMaterial; created: boolean; recovered: string[] } {
  assertMaterialPath(dir);
  return underMaterialLock(
    dir,
    (recovered) => {
      if (fs.existsSync(dir)) return { material: readMaterialFiles(dir, {}), created: false, recovered };
      const material = generateMaterial(options);
      writeNewMaterial(dir, material);
      return { material, created: true, recovered };
    },
    { createParent: true },
  );
}
