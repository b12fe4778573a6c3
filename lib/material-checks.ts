import fs from 'node:fs';
import path from 'node:path';
import type * as Yaml from 'js-yaml';
import {
  type CertificateSummary,
  EXPIRY_WARNING_DAYS,
  certificateValidityProblem,
  describeCertificate,
  isIssuedBy,
  keyMatchesCertificate,
  ROTATE_CA_COMMAND,
  caConstraintProblem,
  missingSubjectAltNames,
  permittedNamesOf,
  registrySubjectAltNames,
} from './certificates';
import { containerdHostsFiles } from './containerd-hosts';
import {
  DEFAULT_NAMESPACE,
  DEFAULT_REGISTRY_HOSTNAME,
  DEFAULT_SERVICE_NAME,
  NODE_DIR,
  registrySecretNames,
} from './defaults';
import { type Credentials, type HtpasswdEntry, bcryptCostOf, parseHtpasswd, verifyPassword } from './htpasswd';
import { type MaterialAddresses, materialAddressesOf, nodeCredentialsOf } from './material-addresses';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES, type MaterialFile, SECRET_MATERIAL_FILES } from './material-files';
import { cacheSlug } from './cache-upstreams';
import { CACHES_FILE, cachesDisagreement, parseCachesFile } from './material-caches-file';
import { applyCommand, assertMaterialDir } from './material-dir';
import { S3_STORAGE_FILE } from './material-files';
import { parseManifestYaml } from './manifest-yaml';
import { underMaterialLock } from './material-transaction';
import { type RegistriesConfig, cacheMirrorsOf, misplacedConfigKeys, parseRegistriesYaml } from './registries-yaml';

/**
 * The doctor's checks. Reading is separate from judging: `readMaterialSnapshot` / `readDistManifests`
 * take the files in, and `checkMaterial` / `checkDist` are pure functions of what was read, so every
 * broken state is a small test. A check whose input is already reported broken is left out, so each
 * problem shows up once, with its fix.
 */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  /** Passed, but needs action soon (a certificate within EXPIRY_WARNING_DAYS of its end): doctor still exits 0. */
  readonly warning?: boolean;
  readonly detail: string;
  /** What to do about it; on failed checks and warnings. */
  readonly fix?: string;
}

/** One material file as read: its content and mode. */
export interface SnapshotFile {
  readonly content: string;
  /** Permission bits, e.g. 0o600. */
  readonly mode: number;
}

/** The material directory as read, for checkMaterial. */
export interface MaterialSnapshot {
  /** The directory as the user named it; used in details and fixes. */
  readonly dir: string;
  /** Missing files are absent. */
  readonly files: Readonly<Partial<Record<MaterialFile, SnapshotFile>>>;
  /** Each `certs.d/<host>/hosts.toml` by host; undefined when there is no certs.d directory. */
  readonly hostsFiles: Readonly<Record<string, string>> | undefined;
  /**
   * The optional desktop-only files holding credentials (OPTIONAL_SECRET_FILES: the caches file, the S3
   * settings), when present.
   * @default - none present
   */
  readonly optionalFiles?: Readonly<Record<string, SnapshotFile>>;
  /**
   * Every file under node/ by its path relative to the material directory: what the nodes mount, searched for
   * upstream credentials that must never reach it.
   * @default - not read
   */
  readonly nodeFiles?: Readonly<Record<string, string>>;
}

/** Files that may be absent but, when present, hold credentials: 0600 like the keys. */
export const OPTIONAL_SECRET_FILES: readonly string[] = [CACHES_FILE, S3_STORAGE_FILE];

/** Options of checkMaterial. */
export interface MaterialCheckOptions {
  /** @default - the current time */
  readonly now?: Date;
  /** The registry Service the certificate and the CA must name. @default 'container-registry' */
  readonly serviceName?: string;
  /** That Service's namespace. @default 'container-registry' */
  readonly namespace?: string;
}

/** One synthesized manifest file as read. */
export interface DistManifest {
  readonly file: string;
  readonly content: string;
}

/**
 * The Secrets synth makes: RegistryChart names them after its serviceName (`<name>-tls` in RegistryServer,
 * `<name>-htpasswd` in RegistryChart), and synth (charts/main.ts) keeps the default name.
 */
const { tls: TLS_SECRET_NAME, htpasswd: HTPASSWD_SECRET_NAME } = registrySecretNames();

/**
 * Reads every material file (content and mode) and certs.d's hosts.toml files; missing files are left out.
 * Reads under the material lock, so it sees a change before or after, never halfway.
 */
export function readMaterialSnapshot(dir: string): MaterialSnapshot {
  return underMaterialLock(dir, () => readSnapshotUnderLock(dir), { reader: true });
}

function readSnapshotUnderLock(dir: string): MaterialSnapshot {
  assertMaterialDir(dir);
  const files: Partial<Record<MaterialFile, SnapshotFile>> = {};
  for (const relativePath of Object.values(MATERIAL_FILES)) {
    const file = path.join(dir, relativePath);
    try {
      files[relativePath] = { content: fs.readFileSync(file, 'utf8'), mode: fs.statSync(file).mode & 0o777 };
    } catch {
      // Missing or unreadable: the 'files' check names it.
    }
  }
  const optionalFiles: Record<string, SnapshotFile> = {};
  for (const relativePath of OPTIONAL_SECRET_FILES) {
    const file = path.join(dir, relativePath);
    try {
      optionalFiles[relativePath] = { content: fs.readFileSync(file, 'utf8'), mode: fs.statSync(file).mode & 0o777 };
    } catch {
      // Absent: nothing stored.
    }
  }
  return {
    dir,
    files,
    hostsFiles: readHostsFiles(path.join(dir, CONTAINERD_HOSTS_DIR)),
    optionalFiles,
    nodeFiles: readTree(dir, NODE_DIR),
  };
}

/** Every regular file under `relativeDir` of `dir` by relative path; unreadable ones are left out. */
function readTree(dir: string, relativeDir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (relative: string): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(path.join(dir, relative), { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const child = path.posix.join(relative, entry.name);
      if (entry.isDirectory()) walk(child);
      else if (entry.isFile()) {
        try {
          files[child] = fs.readFileSync(path.join(dir, child), 'utf8');
        } catch {
          // Unreadable: not searched.
        }
      }
    }
  };
  walk(relativeDir);
  return files;
}

function readHostsFiles(hostsDir: string): Record<string, string> | undefined {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(hostsDir, { withFileTypes: true });
  } catch {
    return undefined;
  }
  const files: Record<string, string> = {};
  for (const entry of entries.filter((candidate) => candidate.isDirectory())) {
    try {
      files[entry.name] = fs.readFileSync(path.join(hostsDir, entry.name, 'hosts.toml'), 'utf8');
    } catch {
      // No hosts.toml: containerd ignores the directory, and so does the check.
    }
  }
  return files;
}

/** The synthesized manifests (`<distDir>/*.k8s.yaml`), or undefined when there is no such directory. */
export function readDistManifests(distDir: string): DistManifest[] | undefined {
  if (!fs.existsSync(distDir) || !fs.statSync(distDir).isDirectory()) return undefined;
  return fs
    .readdirSync(distDir, { withFileTypes: true })
    .filter((entry) => entry.name.endsWith('.k8s.yaml') && !entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .map((name) => ({ file: path.join(distDir, name), content: fs.readFileSync(path.join(distDir, name), 'utf8') }));
}

/** doctor's checks of the material: one Check per concern, each failure with its fix. */
export function checkMaterial(snapshot: MaterialSnapshot, options: MaterialCheckOptions = {}): Check[] {
  const now = options.now ?? new Date();
  const serviceName = options.serviceName ?? DEFAULT_SERVICE_NAME;
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const { dir } = snapshot;
  const at = (relativePath: string): string => path.join(dir, relativePath);
  const text = (relativePath: MaterialFile): string | undefined => snapshot.files[relativePath]?.content;
  const checks: Check[] = [];
  const pass = (name: string, detail: string): void => void checks.push({ name, ok: true, detail });
  const fail = (name: string, detail: string, fix: string): void => void checks.push({ name, ok: false, detail, fix });
  const restore = `restore it from a backup (${dir}.backup-*) or create new material (private-registry init --force)`;

  const allFiles = Object.values(MATERIAL_FILES);
  const missing = allFiles.filter((relativePath) => snapshot.files[relativePath] === undefined);
  if (missing.length === 0) pass('files', `all ${allFiles.length} material files are in ${dir}`);
  else
    fail(
      'files',
      `missing from ${dir}: ${missing.join(', ')}`,
      `restore them from a backup (${dir}.backup-*) or create new material (private-registry init --force)`,
    );

  // Certificates and keys.
  const caPem = text(MATERIAL_FILES.caCertificate);
  const caKeyPem = text(MATERIAL_FILES.caKey);
  const tlsPem = text(MATERIAL_FILES.tlsCertificate);
  const tlsKeyPem = text(MATERIAL_FILES.tlsKey);
  let ca: CertificateSummary | undefined;
  let tls: CertificateSummary | undefined;
  if (caPem !== undefined) {
    const result = attempt(() => describeCertificate(caPem, now, at(MATERIAL_FILES.caCertificate)));
    if (result.error !== undefined) fail('CA certificate', result.error, restore);
    else if (!result.value.isCertificateAuthority)
      fail(
        'CA certificate',
        `${at(MATERIAL_FILES.caCertificate)} is not a CA certificate (no basicConstraints CA:TRUE)`,
        restore,
      );
    else {
      ca = result.value;
      pass('CA certificate', `${at(MATERIAL_FILES.caCertificate)}: ${ca.subject}, SHA-256 ${ca.sha256Fingerprint}`);
    }
  }
  if (ca !== undefined && caPem !== undefined && caKeyPem !== undefined) {
    const matches = attempt(() => keyMatchesCertificate(caPem, caKeyPem));
    if (matches.value === true)
      pass('CA key', `${at(MATERIAL_FILES.caKey)} belongs to ${at(MATERIAL_FILES.caCertificate)}`);
    else
      fail(
        'CA key',
        matches.error ?? `${at(MATERIAL_FILES.caKey)} does not belong to ${at(MATERIAL_FILES.caCertificate)}`,
        `restore the matching pair from a backup (${dir}.backup-*), or make a new CA: private-registry certs renew --rotate-ca`,
      );
  }
  if (tlsPem !== undefined) {
    const result = attempt(() => describeCertificate(tlsPem, now, at(MATERIAL_FILES.tlsCertificate)));
    if (result.error !== undefined) fail('server certificate', result.error, restore);
    else {
      tls = result.value;
      if (ca === undefined || caPem === undefined)
        pass(
          'server certificate',
          `${at(MATERIAL_FILES.tlsCertificate)}: ${tls.subject} (its issuer is not checked: the CA is unusable)`,
        );
      else if (isIssuedBy(tlsPem, caPem))
        pass(
          'server certificate',
          `${at(MATERIAL_FILES.tlsCertificate)} is signed by ${at(MATERIAL_FILES.caCertificate)}`,
        );
      else
        fail(
          'server certificate',
          `${at(MATERIAL_FILES.tlsCertificate)} is not signed by ${at(MATERIAL_FILES.caCertificate)}: clients that trust this CA reject it`,
          'issue a new one from this CA: private-registry certs renew',
        );
    }
  }
  if (tls !== undefined && tlsPem !== undefined && tlsKeyPem !== undefined) {
    const matches = attempt(() => keyMatchesCertificate(tlsPem, tlsKeyPem));
    if (matches.value === true)
      pass('server key', `${at(MATERIAL_FILES.tlsKey)} belongs to ${at(MATERIAL_FILES.tlsCertificate)}`);
    else
      fail(
        'server key',
        matches.error ??
          `${at(MATERIAL_FILES.tlsKey)} does not belong to ${at(MATERIAL_FILES.tlsCertificate)}: the registry cannot serve TLS with them`,
        'issue a new certificate and key: private-registry certs renew',
      );
  }

  // registries.yaml, read early: it names the host the certificate must cover.
  let registries: RegistriesConfig | undefined;
  let addresses: MaterialAddresses | undefined;
  const registriesYaml = text(MATERIAL_FILES.registriesYaml);
  const registriesFile = at(MATERIAL_FILES.registriesYaml);
  if (registriesYaml !== undefined) {
    const result = attempt(() => {
      const parsed = parseRegistriesYaml(registriesYaml, registriesFile);
      return { parsed, addresses: materialAddressesOf(parsed, registriesFile) };
    });
    if (result.error !== undefined) fail('registries.yaml', result.error, restore);
    else {
      ({ parsed: registries, addresses } = result.value);
      pass(
        'registries.yaml',
        `${registriesFile}: nodes pull localhost:${addresses.nodePort} and ${addresses.hostname}:${addresses.registryPort} from https://${addresses.hostname}:${addresses.registryPort}`,
      );
    }
  }

  if (tls !== undefined) {
    const hostname = addresses?.hostname ?? DEFAULT_REGISTRY_HOSTNAME;
    const required = registrySubjectAltNames(hostname, serviceName, namespace);
    const lacking = missingSubjectAltNames(tls, required);
    if (lacking.length === 0)
      pass('server names', `the certificate covers ${[...required.dnsNames, ...required.ipAddresses].join(', ')}`);
    else
      fail(
        'server names',
        `the certificate lacks subjectAltNames ${lacking.join(', ')}: Go clients (containerd, k3s, skopeo) reject those names`,
        'issue a certificate with every name: private-registry certs renew',
      );
  }
  if (ca !== undefined && caPem !== undefined)
    caConstraintsCheck(caPem, addresses?.hostname ?? DEFAULT_REGISTRY_HOSTNAME);
  if (ca !== undefined)
    expiry(
      ca,
      'CA expiry',
      at(MATERIAL_FILES.caCertificate),
      'make a new CA: private-registry certs renew --rotate-ca (then restart the nodes)',
    );
  if (tls !== undefined)
    expiry(tls, 'server certificate expiry', at(MATERIAL_FILES.tlsCertificate), 'private-registry certs renew');

  // Users.
  let entries: HtpasswdEntry[] | undefined;
  const htpasswd = text(MATERIAL_FILES.htpasswd);
  if (htpasswd !== undefined) {
    const result = attempt(() => parseHtpasswd(htpasswd, at(MATERIAL_FILES.htpasswd)));
    if (result.error !== undefined) fail('htpasswd', result.error, restore);
    else if (result.value.length === 0)
      fail(
        'htpasswd',
        `${at(MATERIAL_FILES.htpasswd)} has no users: nobody can log in`,
        'add one: private-registry user add NAME',
      );
    else {
      entries = result.value;
      const costs = [...new Set(entries.map((entry) => bcryptCostOf(entry.hash)))];
      pass(
        'htpasswd',
        `${entries.length} user(s) (${entries.map((entry) => entry.username).join(', ')}), all bcrypt, cost ${costs.join('/')}`,
      );
    }
  }
  let nodeCredentials: Credentials | undefined;
  if (registries !== undefined) {
    const misplaced = misplacedConfigKeys(registries);
    if (misplaced.length === 0)
      pass(
        'registries.yaml configs',
        `configs are keyed by the mirrors' endpoints (${Object.keys(registries.configs ?? {}).join(', ')})`,
      );
    else
      fail(
        'registries.yaml configs',
        `configs ${misplaced.map((key) => JSON.stringify(key)).join(', ')} name a mirror, not an endpoint: k3s silently ignores those credentials and CA`,
        "key configs by the endpoint host:port (what the mirror's endpoint URL names), or recreate the material",
      );
    const credentials = attempt(() => nodeCredentialsOf(registries as RegistriesConfig, registriesFile));
    if (credentials.error !== undefined)
      fail(
        'node credentials',
        credentials.error,
        `give configs."${addresses?.hostname}:${addresses?.registryPort}".auth a username and password, or recreate the material`,
      );
    else nodeCredentials = credentials.value;
  }
  if (entries !== undefined && nodeCredentials !== undefined) {
    const { username, password } = nodeCredentials;
    if (!entries.some((entry) => entry.username === username)) {
      fail(
        'node credentials',
        `the nodes' user ${JSON.stringify(username)} (${registriesFile}) is not in ${at(MATERIAL_FILES.htpasswd)}: every pull fails with 401`,
        `add it with the password from ${registriesFile}: private-registry user add ${username} --password-stdin`,
      );
    } else if (!verifyPassword(entries, username, password)) {
      fail(
        'node credentials',
        `the nodes' password for ${JSON.stringify(username)} (${registriesFile}) does not match ${at(MATERIAL_FILES.htpasswd)}: every pull fails with 401`,
        `give the nodes a working user: private-registry user add NEW, then private-registry user remove ${username} --node-user NEW --password-stdin`,
      );
    } else {
      pass('node credentials', `the nodes' user ${JSON.stringify(username)} logs in with the htpasswd`);
    }
  }
  const passwordFile = text(MATERIAL_FILES.password);
  if (passwordFile !== undefined && nodeCredentials !== undefined) {
    if (passwordFile.replace(/\r?\n$/, '') === nodeCredentials.password)
      pass('auth/password', `${at(MATERIAL_FILES.password)} holds the nodes' password`);
    else
      fail(
        'auth/password',
        `${at(MATERIAL_FILES.password)} differs from the nodes' password in ${registriesFile}`,
        `write the password from registries.yaml (configs auth) into ${at(MATERIAL_FILES.password)}, or restore both from a backup`,
      );
  }

  if (registries !== undefined) hostsDirCheck(registries);
  if (registries !== undefined && addresses !== undefined) cachesCheck(registries, addresses);

  // Stricter than 0600 (0400) is fine: what matters is that group and others have no access.
  const modeOf = (relativePath: string): number | undefined =>
    (snapshot.files as Record<string, SnapshotFile | undefined>)[relativePath]?.mode ??
    snapshot.optionalFiles?.[relativePath]?.mode;
  const secretFiles = [...SECRET_MATERIAL_FILES, ...OPTIONAL_SECRET_FILES];
  const open = secretFiles.filter((relativePath) => ((modeOf(relativePath) ?? 0) & 0o077) !== 0);
  if (open.length === 0) {
    pass(
      'file modes',
      `keys and credentials are readable by their owner only (${secretFiles.filter((relativePath) => modeOf(relativePath) !== undefined).join(', ')})`,
    );
  } else {
    const described = open.map(
      (relativePath) => `${relativePath} is ${(modeOf(relativePath) ?? 0).toString(8).padStart(4, '0')}`,
    );
    fail(
      'file modes',
      `${described.join(', ')}: keys and credentials must be readable by their owner only`,
      `chmod 600 ${open.map(at).join(' ')}`,
    );
  }
  return checks;

  /** The CA may vouch only for the registry's names (critical nameConstraints), and for all of them. */
  function caConstraintsCheck(caPem: string, hostname: string): void {
    const name = 'CA name constraints';
    const caFile = at(MATERIAL_FILES.caCertificate);
    const permitted = permittedNamesOf(caPem, caFile);
    if (permitted === undefined) {
      fail(
        name,
        `${caFile} has no name constraints: whoever gets ca.key can sign a certificate for any name, and everything trusting this CA accepts it`,
        `make a CA that may vouch only for the registry's names: ${ROTATE_CA_COMMAND} (then give the nodes and desktops the new ca.crt)`,
      );
      return;
    }
    const problem = caConstraintProblem(caPem, hostname, serviceName, namespace, caFile);
    if (problem === undefined)
      pass(name, `${caFile} may vouch only for ${[...permitted.dnsNames, ...permitted.ipAddresses].join(', ')}`);
    else
      fail(
        name,
        problem.split(': a new hostname')[0],
        `a new hostname or namespace needs a new CA: ${ROTATE_CA_COMMAND}`,
      );
  }

  /** certs.d is what k3s renders from registries.yaml, kept for containerd outside k3s (kind, nerdctl). */
  function hostsDirCheck(config: RegistriesConfig): void {
    const name = 'certs.d';
    const hostsDir = at(CONTAINERD_HOSTS_DIR);
    const fix = 'rewrite it from registries.yaml: private-registry doctor --fix-hosts-dir';
    const rendered = attempt(() => containerdHostsFiles(config));
    if (rendered.error !== undefined) {
      fail(
        name,
        `${hostsDir} cannot be rendered from ${registriesFile}: ${rendered.error}`,
        "fix the mirror's endpoint in registries.yaml, or recreate the material",
      );
      return;
    }
    const expected = new Map(rendered.value.map((file) => [file.host, file.content]));
    const actual = snapshot.hostsFiles;
    const why =
      "containerd outside k3s (kind, nerdctl --hosts-dir) would not use the registry's endpoint and CA from registries.yaml";
    if (actual === undefined) {
      fail(name, `${hostsDir} is missing: ${why}`, fix);
      return;
    }
    const missing = [...expected.keys()].filter((host) => actual[host] === undefined);
    const differing = [...expected.keys()].filter(
      (host) => actual[host] !== undefined && actual[host] !== expected.get(host),
    );
    const extra = Object.keys(actual)
      .filter((host) => !expected.has(host))
      .sort();
    const problems = [
      ...(missing.length > 0 ? [`no hosts.toml for ${missing.join(', ')}`] : []),
      ...(differing.length > 0 ? [`stale hosts.toml for ${differing.join(', ')}`] : []),
      ...(extra.length > 0 ? [`hosts.toml for ${extra.join(', ')}, which registries.yaml does not name`] : []),
    ];
    if (problems.length === 0) pass(name, `${hostsDir} matches registries.yaml (${[...expected.keys()].join(', ')})`);
    else fail(name, `${hostsDir} does not match registries.yaml: ${problems.join('; ')}: ${why}`, fix);
  }

  /**
   * The caches file and registries.yaml name the same caches on the same ports (certs.d follows registries.yaml,
   * checked above), and no upstream password has reached node/, which every node mounts.
   */
  function cachesCheck(config: RegistriesConfig, registryAddresses: MaterialAddresses): void {
    const name = 'caches';
    const cachesFile = at(CACHES_FILE);
    const mirrored = cacheMirrorsOf(config, registryAddresses.hostname, registryAddresses.registryPort);
    const stored = snapshot.optionalFiles?.[CACHES_FILE];
    const parsed = stored === undefined ? { value: [] } : attempt(() => parseCachesFile(stored.content, cachesFile));
    if (parsed.error !== undefined) {
      fail(
        name,
        parsed.error,
        'restore it from a backup, or remove the caches and add them again (private-registry cache rm / cache add)',
      );
      return;
    }
    const caches = parsed.value;
    const problem = cachesDisagreement(caches, mirrored);
    if (problem !== undefined)
      fail(
        name,
        `${cachesFile} and ${registriesFile} disagree: ${problem}: the nodes would mirror an upstream to a cache that is not deployed, or never use one that is`,
        'remove that cache and add it again (private-registry cache rm UPSTREAM, then cache add UPSTREAM), or restore both files from a backup',
      );
    else if (caches.length === 0)
      pass(name, 'no pull-through caches: the nodes pull public images from their registries');
    else
      pass(
        name,
        `${caches.map((cache) => `${cache.upstream} → https://${registryAddresses.hostname}:${cache.port}`).join(', ')}: ${cachesFile} and registries.yaml agree`,
      );

    const withCredentials = caches.filter((cache) => cache.credentials !== undefined);
    if (withCredentials.length === 0) return;
    const leaks = Object.entries(snapshot.nodeFiles ?? {}).flatMap(([relativePath, content]) =>
      withCredentials
        .filter((cache) => content.includes(cache.credentials?.password ?? ''))
        .map((cache) => `${at(relativePath)} holds the ${cache.upstream} cache's upstream password`),
    );
    if (leaks.length === 0)
      pass(
        'upstream credentials',
        `the upstream accounts of ${withCredentials.map((cache) => cache.upstream).join(', ')} are only in ${cachesFile}, not in ${at(NODE_DIR)}`,
      );
    else
      fail(
        'upstream credentials',
        `${leaks.join('; ')}: every node mounts ${at(NODE_DIR)}, so the token reaches every node`,
        `remove it from there, then revoke the token at the upstream and store a new one (private-registry cache login UPSTREAM --username U --password-stdin)`,
      );
  }

  function expiry(summary: CertificateSummary, name: string, file: string, fix: string): void {
    const until = summary.notAfter.toISOString();
    const problem = certificateValidityProblem(summary, now);
    if (problem !== undefined) fail(name, `${file} ${problem}`, fix);
    else if (summary.daysLeft < EXPIRY_WARNING_DAYS)
      checks.push({
        name,
        ok: true,
        warning: true,
        detail: `${file} expires in ${summary.daysLeft} days (${until}), fewer than ${EXPIRY_WARNING_DAYS}`,
        fix,
      });
    else pass(name, `${file} is valid for ${summary.daysLeft} more days (until ${until})`);
  }
}

/** Options of checkDist. */
export interface DistCheckOptions {
  /** The synthesized directory, for messages. */
  readonly distDir: string;
  /**
   * The material directory as the fix should name it to synth (REGISTRY_MATERIAL_DIR).
   * @default - none: synth finds the material by itself
   */
  readonly materialDir?: string;
}

/** Whether the synthesized Secrets hold this material's server certificate and htpasswd. */
export function checkDist(
  snapshot: MaterialSnapshot,
  manifests: readonly DistManifest[],
  options: DistCheckOptions,
): Check[] {
  const fix = `synthesize from this material and apply it: ${applyCommand({ materialDir: options.materialDir, distDir: options.distDir })}`;
  const parsed = attempt(() =>
    // What synth wrote is read without js-yaml; anything else (edited by hand, broken) by js-yaml, loaded
    // only then, whose result and error messages are the rule.
    manifests.flatMap(
      (manifest) =>
        parseManifestYaml(manifest.content) ??
        (require('js-yaml') as typeof Yaml).loadAll(manifest.content, undefined, { filename: manifest.file }),
    ),
  );
  if (parsed.error !== undefined)
    return [
      {
        name: 'dist manifests',
        ok: false,
        detail: `${options.distDir} does not parse: ${parsed.error.split('\n')[0]}`,
        fix,
      },
    ];
  // Any YAML value may stand where a map is expected; optional chaining reads through all of them.
  type Manifest = { kind?: unknown; metadata?: { name?: unknown }; data?: Record<string, unknown> } | null | undefined;
  const secretData = (name: string, key: string): string | undefined => {
    const secret = (parsed.value as Manifest[]).find(
      (object) => object?.kind === 'Secret' && object.metadata?.name === name,
    );
    const data = secret?.data?.[key];
    return typeof data === 'string' ? Buffer.from(data, 'base64').toString('utf8') : undefined;
  };
  const checks: Check[] = [];
  const compare = (name: string, secretName: string, key: string, relativePath: MaterialFile): void => {
    const material = snapshot.files[relativePath]?.content;
    if (material === undefined) return;
    const synthesized = secretData(secretName, key);
    const where = `Secret ${secretName} (${key}) in ${options.distDir}`;
    if (synthesized === undefined) checks.push({ name, ok: false, detail: `no ${where}`, fix });
    else if (synthesized !== material)
      checks.push({
        name,
        ok: false,
        detail: `${where} differs from ${path.join(snapshot.dir, relativePath)}: the cluster gets other ${key} than the material`,
        fix,
      });
    else checks.push({ name, ok: true, detail: `${where} matches ${path.join(snapshot.dir, relativePath)}` });
  };
  compare('dist certificate', TLS_SECRET_NAME, 'tls.crt', MATERIAL_FILES.tlsCertificate);
  compare('dist htpasswd', HTPASSWD_SECRET_NAME, 'htpasswd', MATERIAL_FILES.htpasswd);
  const cachesCheck = distCachesCheck(snapshot, parsed.value as unknown[], options.distDir, fix);
  if (cachesCheck !== undefined) checks.push(cachesCheck);
  return checks;
}

/**
 * Whether dist/ deploys the material's caches, each from its upstream with its TTL: a cache added since the
 * last synth is not there yet, while the nodes (after a restart) would already mirror to it.
 */
function distCachesCheck(
  snapshot: MaterialSnapshot,
  objects: unknown[],
  distDir: string,
  fix: string,
): Check | undefined {
  const stored = snapshot.optionalFiles?.[CACHES_FILE];
  const caches = stored === undefined ? { value: [] } : attempt(() => parseCachesFile(stored.content, CACHES_FILE));
  if (caches.value === undefined) return undefined; // the 'caches' check reports the broken file
  type Deployment = {
    kind?: unknown;
    metadata?: { labels?: Record<string, unknown> };
    spec?: { template?: { spec?: { containers?: { env?: { name?: unknown; value?: unknown }[] }[] } } };
  };
  const deployed = new Map<string, Record<string, unknown>>();
  for (const object of objects as Deployment[]) {
    const labels = object?.metadata?.labels;
    if (object?.kind !== 'Deployment' || labels?.['app.kubernetes.io/component'] !== 'cache') continue;
    const env = Object.fromEntries(
      (object.spec?.template?.spec?.containers?.[0]?.env ?? []).map((entry) => [String(entry?.name), entry?.value]),
    );
    deployed.set(String(labels['cdk8s-private-registry/upstream']), env);
  }
  if (caches.value.length === 0 && deployed.size === 0) return undefined;
  const problems: string[] = [];
  for (const cache of caches.value) {
    const env = deployed.get(cacheSlug(cache.upstream));
    if (env === undefined) problems.push(`no cache of ${cache.upstream}`);
    else if (env.REGISTRY_PROXY_REMOTEURL !== cache.remoteUrl || env.REGISTRY_PROXY_TTL !== cache.ttl)
      problems.push(
        `the ${cache.upstream} cache pulls from ${String(env.REGISTRY_PROXY_REMOTEURL)} with TTL ${String(env.REGISTRY_PROXY_TTL)}, the material says ${cache.remoteUrl} and ${cache.ttl}`,
      );
  }
  const known = new Set(caches.value.map((cache) => cacheSlug(cache.upstream)));
  for (const slug of deployed.keys())
    if (!known.has(slug)) problems.push(`a cache (${slug}) the material no longer has`);
  if (problems.length === 0)
    return {
      name: 'dist caches',
      ok: true,
      detail: `${distDir} deploys the caches of ${caches.value.map((cache) => cache.upstream).join(', ')}`,
    };
  return {
    name: 'dist caches',
    ok: false,
    detail: `${distDir} differs from ${path.join(snapshot.dir, CACHES_FILE)}: ${problems.join('; ')}`,
    fix,
  };
}

type Attempt<T> = { value: T; error?: undefined } | { value?: undefined; error: string };

function attempt<T>(fn: () => T): Attempt<T> {
  try {
    return { value: fn() };
  } catch (error) {
    return { error: (error as Error).message };
  }
}
