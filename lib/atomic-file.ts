import type * as Crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

/** Mode for keys, password files and anything holding a credential. */
export const SECRET_FILE_MODE = 0o600;
/** Mode for certificates and the other files anyone may read (hosts.toml, k3d.yaml). */
export const PUBLIC_FILE_MODE = 0o644;

/**
 * Replaces `file` with `content` so that a reader sees the old or the new file, never half of one:
 * write a temp file in the same directory, fsync, then rename over the target.
 */
export function writeFileAtomic(file: string, content: string, mode: number = SECRET_FILE_MODE): void {
  // node:crypto on the first write only: every command loads this module, the read-only ones never write.
  const { randomBytes } = require('node:crypto') as typeof Crypto;
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = fs.openSync(temp, 'wx', mode);
    try {
      fs.writeFileSync(fd, content);
      fs.fchmodSync(fd, mode); // the umask may have narrowed or the caller widened it
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
}

/** A file to write: its path relative to a directory, its content and its mode. */
export interface FileToWrite {
  readonly relativePath: string;
  readonly content: string;
  readonly mode: number;
}

/**
 * Creates `dir` holding exactly `files`, or fails leaving nothing behind: the files are written into a
 * sibling temp directory that is renamed into place, and an existing `dir` is never touched.
 */
export function createDirectoryAtomic(dir: string, files: readonly FileToWrite[]): void {
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const temp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.tmp-`));
  try {
    for (const file of files) {
      const target = path.join(temp, file.relativePath);
      fs.mkdirSync(path.dirname(target), { recursive: true, mode: 0o700 });
      fs.writeFileSync(target, file.content, { mode: file.mode, flag: 'wx' });
      fs.chmodSync(target, file.mode);
    }
    fs.chmodSync(temp, 0o700);
    if (fs.existsSync(dir))
      throw new Error(`${dir} appeared while new material was being written: nothing was changed, run again`);
    fs.renameSync(temp, dir);
  } catch (error) {
    fs.rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}
