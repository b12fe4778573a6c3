import * as fs from 'node:fs';
import * as path from 'node:path';
import { PUBLIC_FILE_MODE, writeFileAtomic } from './atomic-file';
import { type HostsTomlFile, containerdHostsFiles } from './containerd-hosts';
import { shellQuote } from './k3d-config';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES, assertMaterialPath } from './material';
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

/** Renames `dir` to a timestamped backup and returns the backup's path. */
export function moveToBackup(dir: string, now: Date): string {
  const backup = backupPathFor(dir, now);
  fs.renameSync(dir, backup);
  return backup;
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
 * Rewrites `<dir>/certs.d` from `registries`, as the material was first written: each hosts.toml is
 * replaced atomically, and the hosts.toml of a host registries.yaml no longer names is removed (with its
 * directory, when nothing else is in it). Returns the hosts written.
 */
export function writeContainerdHostsDir(dir: string, registries: RegistriesConfig): string[] {
  const hostsDir = path.join(dir, CONTAINERD_HOSTS_DIR);
  let files: HostsTomlFile[];
  try {
    files = containerdHostsFiles(registries);
  } catch (error) {
    throw new ValidationError(`${path.join(dir, MATERIAL_FILES.registriesYaml)}: ${(error as Error).message}`);
  }
  fs.mkdirSync(hostsDir, { recursive: true, mode: 0o700 });
  for (const file of files) {
    fs.mkdirSync(path.join(hostsDir, file.host), { recursive: true, mode: 0o700 });
    writeFileAtomic(path.join(hostsDir, file.host, 'hosts.toml'), file.content, PUBLIC_FILE_MODE);
  }
  const hosts = new Set(files.map((file) => file.host));
  for (const entry of fs.readdirSync(hostsDir, { withFileTypes: true })) {
    if (!entry.isDirectory() || hosts.has(entry.name)) continue;
    fs.rmSync(path.join(hostsDir, entry.name, 'hosts.toml'), { force: true });
    if (fs.readdirSync(path.join(hostsDir, entry.name)).length === 0) fs.rmdirSync(path.join(hostsDir, entry.name));
  }
  return [...hosts];
}
