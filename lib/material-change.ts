import * as fs from 'node:fs';
import * as path from 'node:path';
import { type FileToWrite, writeFileAtomic } from './atomic-file';
import { NODE_DIR, NODE_DIRECTORY_MODE } from './material';

/** A change to an existing material directory: files to write (each replacing its old version) and to remove. */
export interface MaterialChange {
  readonly write: readonly FileToWrite[];
  /** Paths relative to the material directory; a path that is already gone is fine. */
  readonly remove: readonly string[];
}

/**
 * The one function through which `migrate` and the node-directory writes change an existing material
 * directory (the `integrity` branch's transaction replaces its body). Every new file is written first,
 * each atomically (rename inside its own directory, so a node's bind mount of node/ sees the change), and
 * only then is anything removed: a run stopped half-way leaves every old file in place and is finished
 * by running the command again. Emptied directories are removed too.
 */
export function commitMaterialChange(dir: string, change: MaterialChange): void {
  for (const file of change.write) {
    const target = path.join(dir, file.relativePath);
    makeDirectories(dir, path.dirname(file.relativePath));
    writeFileAtomic(target, file.content, file.mode);
  }
  for (const relativePath of change.remove) {
    fs.rmSync(path.join(dir, relativePath), { force: true });
    // node/ itself is never removed: a node's bind mount would point at a deleted directory.
    for (
      let parent = path.dirname(relativePath);
      parent !== '.' && parent !== NODE_DIR;
      parent = path.dirname(parent)
    ) {
      const directory = path.join(dir, parent);
      if (!fs.existsSync(directory) || fs.readdirSync(directory).length > 0) break;
      fs.rmdirSync(directory);
    }
  }
}

/** Creates `relativeDir` inside `dir`: node/ and below 0755 (a node reads them), everything else 0700. */
function makeDirectories(dir: string, relativeDir: string): void {
  let current = '';
  for (const part of relativeDir.split(/[\\/]/).filter((segment) => segment !== '' && segment !== '.')) {
    current = current === '' ? part : `${current}/${part}`;
    const directory = path.join(dir, current);
    if (fs.existsSync(directory)) continue;
    const inNodeDir = current === NODE_DIR || current.startsWith(`${NODE_DIR}/`);
    fs.mkdirSync(directory, { mode: inNodeDir ? NODE_DIRECTORY_MODE : 0o700 });
    fs.chmodSync(directory, inNodeDir ? NODE_DIRECTORY_MODE : 0o700); // past the umask
  }
}
