import path from 'node:path';
import { SECRET_FILE_MODE } from './atomic-file';
import { DEFAULT_BCRYPT_COST } from './defaults';
import {
  type Credentials,
  type HtpasswdEntry,
  bcryptCostOf,
  formatHtpasswd,
  hashPassword,
  parseHtpasswd,
  validatePassword,
  validateUsername,
  verifyPassword,
} from './htpasswd';
import { type RegistryMaterial, readMaterial, readMaterialHtpasswd, readMaterialRegistries } from './material';
import { nodeConfigKey } from './material-addresses';
import { MATERIAL_FILES } from './material-files';
import { assertMaterialDir, containerdHostsChange } from './material-dir';
import { commitMaterialChange, underMaterialLock } from './material-transaction';
import { type RandomSource, generatePassword, secureRandom } from './random';
import { type RegistriesConfig, type RegistryHostConfig, renderRegistriesYaml } from './registries-yaml';
import { ValidationError } from './validate';

/**
 * The registry's users, kept in the material directory: auth/htpasswd is what the registry checks,
 * certs/registries.yaml + auth/password hold the one user the nodes pull with. Every change reads and
 * cross-checks the whole material first, so a broken directory is reported and never written to.
 */
export interface MaterialUser {
  readonly username: string;
  readonly bcryptCost: number;
  /** The user registries.yaml gives the nodes. */
  readonly isNodeUser: boolean;
}

/** Options of addMaterialUser. */
export interface AddUserOptions {
  /** @default - a random 24-character password */
  readonly password?: string;
  /** @default 4 (see DEFAULT_BCRYPT_COST) */
  readonly bcryptCost?: number;
  /** @default - the operating system's CSPRNG */
  readonly random?: RandomSource;
}

/** Options of removeMaterialUser. */
export interface RemoveUserOptions {
  /**
   * The user the nodes pull with from now on; required when removing the current one. It must be in the
   * htpasswd with this password.
   * @default - the nodes keep their user
   */
  readonly nodeUser?: Credentials;
}

/**
 * The users of the material's htpasswd, and which one the nodes pull as. Only the htpasswd and
 * registries.yaml are read: the names do not depend on the certificates and keys (doctor judges those).
 */
export function listMaterialUsers(dir: string): MaterialUser[] {
  const { entries, nodeUsername } = underMaterialLock(
    dir,
    () => {
      assertMaterialDir(dir);
      return {
        entries: readMaterialHtpasswd(dir).entries,
        nodeUsername: readMaterialRegistries(dir).nodeCredentials.username,
      };
    },
    { reader: true },
  );
  return entries.map((entry) => ({
    username: entry.username,
    bcryptCost: bcryptCostOf(entry.hash),
    isNodeUser: entry.username === nodeUsername,
  }));
}

/** Adds `username` to the htpasswd and returns its password (generated when none is given). */
export function addMaterialUser(
  dir: string,
  username: string,
  options: AddUserOptions = {},
): { password: string; generated: boolean } {
  validateUsername(username);
  if (options.password !== undefined) validatePassword(options.password, username);
  // Read, check and write under one lock: two concurrent adds both land.
  return underMaterialLock(dir, () => addUnderLock(dir, username, options));
}

function addUnderLock(
  dir: string,
  username: string,
  options: AddUserOptions,
): { password: string; generated: boolean } {
  const { entries, htpasswdFile } = readUsers(dir);
  if (entries.some((entry) => entry.username === username)) {
    throw new ValidationError(
      `user ${JSON.stringify(username)} already exists in ${htpasswdFile}: pick another name, or remove that user first`,
    );
  }
  const random = options.random ?? secureRandom;
  const password = options.password ?? generatePassword(random);
  const hash = hashPassword(password, options.bcryptCost ?? DEFAULT_BCRYPT_COST, random);
  commitMaterialChange(dir, {
    write: [
      {
        relativePath: MATERIAL_FILES.htpasswd,
        content: formatHtpasswd([...entries, { username, hash }]),
        mode: SECRET_FILE_MODE,
      },
    ],
  });
  return { password, generated: options.password === undefined };
}

/**
 * Removes `username` from the htpasswd; with `nodeUser`, switches the nodes to that user (registries.yaml,
 * auth/password, certs.d) in the same transaction, so an interrupted run leaves all of it or none.
 */
export function removeMaterialUser(
  dir: string,
  username: string,
  options: RemoveUserOptions = {},
): { nodeUserChanged: boolean } {
  return underMaterialLock(dir, () => removeUnderLock(dir, username, options));
}

function removeUnderLock(dir: string, username: string, options: RemoveUserOptions): { nodeUserChanged: boolean } {
  const { material, entries, htpasswdFile } = readUsers(dir);
  assertUser(entries, username, htpasswdFile);
  const registriesFile = path.join(dir, MATERIAL_FILES.registriesYaml);
  const nodeUser = options.nodeUser;
  if (nodeUser === undefined) {
    if (username === material.nodeCredentials.username) {
      throw new ValidationError(
        `cannot remove ${JSON.stringify(username)}: the nodes pull with it (${registriesFile}); switch them to another existing user first: give 'nodeUser' and 'nodeUser.password'`,
      );
    }
  } else {
    if (nodeUser.username === username) {
      throw new ValidationError(
        `'nodeUser' must name a user other than the one being removed, got ${JSON.stringify(username)} for both: pick a user that stays`,
      );
    }
    assertUser(entries, nodeUser.username, htpasswdFile);
    validatePassword(nodeUser.password, nodeUser.username);
    if (!verifyPassword(entries, nodeUser.username, nodeUser.password)) {
      throw new ValidationError(
        `'nodeUser.password' does not match ${JSON.stringify(nodeUser.username)} in ${htpasswdFile}: give that user's current password`,
      );
    }
  }
  const nodeUserChanged = nodeUser !== undefined && nodeUser.username !== material.nodeCredentials.username;
  const htpasswd = {
    relativePath: MATERIAL_FILES.htpasswd,
    content: formatHtpasswd(entries.filter((entry) => entry.username !== username)),
    mode: SECRET_FILE_MODE,
  };
  if (nodeUser !== undefined && nodeUserChanged) {
    const registries = withNodeCredentials(material.registries, nodeUser);
    // Whatever rewrites registries.yaml rewrites what is rendered from it.
    const hosts = containerdHostsChange(dir, registries);
    commitMaterialChange(dir, {
      write: [
        {
          relativePath: MATERIAL_FILES.registriesYaml,
          content: renderRegistriesYaml(registries),
          mode: SECRET_FILE_MODE,
        },
        { relativePath: MATERIAL_FILES.password, content: `${nodeUser.password}\n`, mode: SECRET_FILE_MODE },
        htpasswd,
        ...hosts.write,
      ],
      remove: hosts.remove,
    });
  } else commitMaterialChange(dir, { write: [htpasswd] });
  return { nodeUserChanged };
}

/** True when `password` is `username`'s in the htpasswd. */
export function verifyMaterialUser(dir: string, username: string, password: string): boolean {
  // The answer depends on the htpasswd alone.
  const entries = underMaterialLock(
    dir,
    () => {
      assertMaterialDir(dir);
      return readMaterialHtpasswd(dir).entries;
    },
    { reader: true },
  );
  const htpasswdFile = path.join(dir, MATERIAL_FILES.htpasswd);
  assertUser(entries, username, htpasswdFile);
  validatePassword(password, username);
  return verifyPassword(entries, username, password);
}

/** `registries` with the nodes' credentials replaced; everything else (TLS, other hosts) is kept. */
export function withNodeCredentials(registries: RegistriesConfig, credentials: Credentials): RegistriesConfig {
  const key = nodeConfigKey(registries);
  if (key === undefined)
    throw new ValidationError(`registries.yaml has no mirror endpoint to give credentials to: recreate the material`);
  const old = registries.configs?.[key]?.auth;
  const auth = { username: credentials.username, password: credentials.password };
  // The pull-through caches' endpoints log in as the nodes' user too: every endpoint that had the old
  // credentials gets the new ones.
  const loggedInAsNodes = (config: RegistryHostConfig): boolean =>
    old !== undefined && config.auth?.username === old.username && config.auth?.password === old.password;
  return {
    ...registries,
    configs: Object.fromEntries(
      Object.entries({ ...registries.configs, [key]: registries.configs?.[key] ?? {} }).map(([host, config]) => [
        host,
        host === key || loggedInAsNodes(config) ? { ...config, auth } : config,
      ]),
    ),
  };
}

function readUsers(dir: string): { material: RegistryMaterial; entries: HtpasswdEntry[]; htpasswdFile: string } {
  assertMaterialDir(dir);
  // Users can be managed while a certificate renewal is due; synth is what refuses expired certificates.
  const material = readMaterial(dir, { requireCurrentCertificates: false });
  const htpasswdFile = path.join(dir, MATERIAL_FILES.htpasswd);
  return { material, entries: parseHtpasswd(material.htpasswd, htpasswdFile), htpasswdFile };
}

function assertUser(entries: readonly HtpasswdEntry[], username: string, htpasswdFile: string): void {
  if (!entries.some((entry) => entry.username === username)) {
    const names = entries.map((entry) => JSON.stringify(entry.username)).join(', ');
    throw new ValidationError(`no user ${JSON.stringify(username)} in ${htpasswdFile}: the users are ${names}`);
  }
}
