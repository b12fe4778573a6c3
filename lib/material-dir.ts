import * as fs from 'node:fs';
import * as path from 'node:path';
import { ValidationError } from './validate';

/** Fails with the fix when `dir` is not there, before any command reads a file from it. */
export function assertMaterialDir(dir: string): void {
  if (!fs.existsSync(dir)) {
    throw new ValidationError(`no material directory at ${dir}: create it with "private-registry init" (or npx cdk8s synth), or point 'dir' at it`);
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
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
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
