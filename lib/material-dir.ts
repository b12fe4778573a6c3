import fs from 'node:fs';
import path from 'node:path';
import { PUBLIC_FILE_MODE } from './atomic-file';
import { type HostsTomlFile, containerdHostsFiles } from './containerd-hosts';
import { shellQuote } from './shell-words';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES } from './material-files';
import { assertCurrentLayout } from './material-layout';
import { type MaterialChange, commitMaterialChange } from './material-transaction';
import type { RegistriesConfig } from './registries-yaml';
import { ValidationError } from './validate';

/** Where `npx cdk8s synth` writes the manifests (cdk8s.yaml `output`). */
export const DEFAULT_DIST_DIR = 'dist';

/**
 * The command that puts the material into the cluster: synth, which finds the material through
 * REGISTRY_MATERIAL_DIR, then apply. Give `materialDir` when synth would not find it by itself, and
 * `distDir` when the manifests go elsewhere than dist.
 */
export function applyCommand(options: { readonly materialDir?: string; readonly distDir?: string } = {}): string {
  const env = options.materialDir === undefined ? '' : `REGISTRY_MATERIAL_DIR=${shellQuote(options.materialDir)} `;
  const dist = options.distDir ?? DEFAULT_DIST_DIR;
  const output = dist === DEFAULT_DIST_DIR ? '' : ` --output ${shellQuote(dist)}`;
  return `${env}npx cdk8s synth${output} && kubectl apply -f ${shellQuote(dist)}`;
}

/**
 * Refuses a material path that can only lead somewhere wrong: an empty one, a symbolic link to nothing
 * (creating material there would replace the link), or something that is not a directory.
 */
export function assertMaterialPath(dir: string): void {
  if (dir === '') {
    throw new ValidationError(
      `'dir' must name the material directory, got "": give a path like "registry" (an empty REGISTRY_MATERIAL_DIR counts too: unset it)`,
    );
  }
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(dir);
  } catch {
    return; // Nothing there yet: it may be created.
  }
  if (stat.isSymbolicLink() && !fs.existsSync(dir)) {
    throw new ValidationError(
      `${dir} is a symbolic link to ${fs.readlinkSync(dir)}, which does not exist: restore what it points to, or remove the link to create new material there`,
    );
  }
  if (!fs.statSync(dir).isDirectory()) {
    throw new ValidationError(
      `${dir} is not a directory: point 'dir' (REGISTRY_MATERIAL_DIR) at the material directory`,
    );
  }
}

/** Fails with the fix when `dir` is not there, before any command reads a file from it. */
export function assertMaterialDir(dir: string): void {
  assertMaterialPath(dir);
  if (!fs.existsSync(dir)) {
    throw new ValidationError(
      `no material directory at ${dir}: create it with "private-registry init" (or npx cdk8s synth), or point 'dir' at it`,
    );
  }
  if (!fs.statSync(dir).isDirectory()) {
    throw new ValidationError(`${dir} is not a directory: point 'dir' at the material directory`);
  }
  assertCurrentLayout(dir);
}

/** The text of `file`, a file of the material: when it cannot be read, a ValidationError naming it and `fix`. */
export function readMaterialText(file: string, fix: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    throw new ValidationError(`${file} is missing or unreadable: ${fix}`);
  }
}

/**
 * `<dir>.backup-<UTC timestamp>`, e.g. registry.backup-20250102T030405Z, next to `dir` (the .gitignore
 * ignores `registry.backup-*\/`). A counter keeps two backups made within one second apart.
 */
export function backupPathFor(dir: string, now: Date): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const absolute = `${path.resolve(dir)}.backup-${stamp}`;
  // Shown to the user: relative when `dir` was, so it reads like the path they typed.
  const base = path.isAbsolute(dir) ? absolute : path.relative(process.cwd(), absolute);
  let candidate = base;
  for (let n = 2; fs.existsSync(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}

/** Copies `dir` (modes kept, so keys stay 0600) to a timestamped backup, whole or not at all. */
export function copyToBackup(dir: string, now: Date): string {
  const backup = backupPathFor(dir, now);
  const temp = fs.mkdtempSync(`${backup}.tmp-`);
  try {
    fs.cpSync(dir, temp, { recursive: true, preserveTimestamps: true });
    fs.chmodSync(temp, fs.statSync(dir).mode & 0o7777);
    fs.renameSync(temp, backup);
  } catch (error) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw error;
  }
  return backup;
}

/**
 * The change that rewrites `<dir>/certs.d` from `registries`, as the material was first written: each
 * hosts.toml, and the removal of the hosts.toml of a host registries.yaml no longer names (its directory
 * goes with it when nothing else is in it). Part of every change that rewrites registries.yaml.
 */
export function containerdHostsChange(dir: string, registries: RegistriesConfig): Required<MaterialChange> {
  let files: HostsTomlFile[];
  try {
    files = containerdHostsFiles(registries);
  } catch (error) {
    throw new ValidationError(`${path.join(dir, MATERIAL_FILES.registriesYaml)}: ${(error as Error).message}`);
  }
  const hosts = new Set(files.map((file) => file.host));
  const hostsDir = path.join(dir, CONTAINERD_HOSTS_DIR);
  const stale = fs.existsSync(hostsDir)
    ? fs
        .readdirSync(hostsDir, { withFileTypes: true })
        .filter((entry) => entry.isDirectory() && !hosts.has(entry.name))
        .map((entry) => `${CONTAINERD_HOSTS_DIR}/${entry.name}/hosts.toml`)
    : [];
  return {
    write: files.map((file) => ({
      relativePath: `${CONTAINERD_HOSTS_DIR}/${file.host}/hosts.toml`,
      content: file.content,
      mode: PUBLIC_FILE_MODE,
    })),
    remove: stale,
  };
}

/** Rewrites `<dir>/certs.d` from `registries` in one transaction (see containerdHostsChange). Returns the hosts. */
export function writeContainerdHostsDir(dir: string, registries: RegistriesConfig): string[] {
  const change = containerdHostsChange(dir, registries);
  commitMaterialChange(dir, change);
  return change.write.map((file) => path.basename(path.dirname(file.relativePath)));
}
