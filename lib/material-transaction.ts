import fs from 'node:fs';
import path from 'node:path';
import { type FileToWrite, SECRET_FILE_MODE } from './atomic-file';
import { NODE_DIR, NODE_DIRECTORY_MODE } from './defaults';
import { type LockOptions, withMaterialLock } from './material-lock';
import { ValidationError } from './validate';

/**
 * Whole-command atomicity for the material directory: a kill at any instant leaves the old material or the
 * new one, never a mix. Two shapes of change:
 *
 * - `commitMaterialChange`: several files of an existing directory. The new contents are written into the
 *   journal `<dir>/.journal/` (0700; files 0600 until they are whole), then `manifest` is renamed into it:
 *   that rename is the commit point. Then each file is renamed over its target, and the journal removed.
 * - `createMaterialDirectory`: a whole new directory (init, init --force, the first synth). It is written
 *   into a temp sibling `.<name>.tmp-*`, renamed to `.<name>.new` (the commit point), then the old
 *   directory, if any, is renamed to a backup and `.<name>.new` to the directory.
 *
 * `underMaterialLock` takes the lock and first finishes what a killed command committed (roll forward) or
 * removes what it had not (temp siblings, an uncommitted journal). Every file holding a key is created
 * 0600 inside a 0700 directory, so nothing a crash leaves is readable by others.
 */

/** A change to an existing material directory: files to (re)write and files to remove, relative paths. */
export interface MaterialChange {
  readonly write: readonly FileToWrite[];
  readonly remove?: readonly string[];
}

/** The journal directory inside the material directory, and its commit record. */
export const JOURNAL_DIR = '.journal';
const MANIFEST = 'manifest';

interface Manifest {
  readonly write: readonly { readonly entry: string; readonly target: string }[];
  readonly remove: readonly string[];
}

/**
 * Runs `fn` holding the lock of `dir`, after recovering what a killed command left; `fn` gets a line per
 * thing recovered (empty when nothing was). Nested calls in the same process reuse the lock: only the
 * outermost one recovers. A reader that could not lock (see LockOptions.reader) recovers nothing.
 */
export function underMaterialLock<T>(dir: string, fn: (recovered: string[]) => T, options: LockOptions = {}): T {
  return withMaterialLock(dir, (state) => fn(state === 'acquired' ? recoverMaterial(dir) : []), options);
}

/** Applies `change` to `dir` as one transaction (see the module comment). Takes the lock. */
export function commitMaterialChange(dir: string, change: MaterialChange): void {
  underMaterialLock(dir, () => {
    const journal = path.join(dir, JOURNAL_DIR);
    fs.mkdirSync(journal, { mode: 0o700 });
    const manifest: Manifest = {
      write: change.write.map((file, index) => {
        const target = safeRelativePath(file.relativePath);
        writeDurably(path.join(journal, String(index)), file.content, file.mode);
        return { entry: String(index), target };
      }),
      remove: (change.remove ?? []).map(safeRelativePath),
    };
    writeDurably(path.join(journal, `${MANIFEST}.tmp`), JSON.stringify(manifest), SECRET_FILE_MODE);
    fs.renameSync(path.join(journal, `${MANIFEST}.tmp`), path.join(journal, MANIFEST));
    fsyncDirectory(journal); // committed
    applyJournal(dir, manifest);
  });
}

/**
 * Creates `dir` holding exactly `files`. An existing `dir` is moved to `backupPath(dir)` in the same
 * transaction; without `backupPath` an existing `dir` is an error. Takes the lock. Returns the backup's path.
 */
export function createMaterialDirectory(
  dir: string,
  files: readonly FileToWrite[],
  backupPath?: (dir: string) => string,
): string | undefined {
  return underMaterialLock(
    dir,
    () => {
      const exists = fs.existsSync(dir);
      if (exists && backupPath === undefined)
        throw new ValidationError(
          `${dir} already exists: material is never overwritten; move it away first or use it as it is`,
        );
      const parent = path.dirname(path.resolve(dir));
      fs.mkdirSync(parent, { recursive: true });
      const temp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.tmp-`));
      try {
        for (const file of files) {
          const target = path.join(temp, safeRelativePath(file.relativePath));
          mkdirsDurably(temp, path.dirname(target));
          writeDurably(target, file.content, file.mode);
        }
        fs.chmodSync(temp, 0o700);
        fsyncDirectory(temp);
        fs.renameSync(temp, newPathFor(dir));
      } catch (error) {
        fs.rmSync(temp, { recursive: true, force: true });
        throw error;
      }
      fsyncDirectory(parent); // committed
      return swapInNew(dir, backupPath);
    },
    { createParent: true },
  );
}

/**
 * Finishes or removes what a killed command left in and beside `dir`; returns a line per thing done. Call
 * it holding the lock (underMaterialLock does).
 */
export function recoverMaterial(dir: string): string[] {
  const done: string[] = [];
  const parent = path.dirname(path.resolve(dir));
  const name = path.basename(path.resolve(dir));
  const siblings = fs.existsSync(parent) ? fs.readdirSync(parent) : [];
  for (const sibling of siblings) {
    const full = path.join(parent, sibling);
    if (sibling.startsWith(`.${name}.tmp-`) || (sibling.startsWith(`${name}.backup-`) && sibling.includes('.tmp-'))) {
      fs.rmSync(full, { recursive: true, force: true });
      done.push(`removed ${full}, an unfinished copy left by an interrupted command`);
    }
  }
  if (fs.existsSync(newPathFor(dir))) {
    const backup = swapInNew(dir, (existing) => backupBeside(existing));
    done.push(
      `finished an interrupted init: ${dir} holds the material it created${backup === undefined ? '' : `, the old material is in ${backup}`}`,
    );
  }
  if (!isDirectory(dir)) return done;
  const journal = path.join(dir, JOURNAL_DIR);
  if (fs.existsSync(journal)) {
    const manifest = readManifest(journal);
    if (manifest === undefined) {
      fs.rmSync(journal, { recursive: true, force: true });
      fsyncDirectory(dir);
      done.push(`removed ${journal}, a change an interrupted command had not committed: the material is as before it`);
    } else {
      applyJournal(dir, manifest);
      done.push(
        `finished a change an interrupted command had committed (${journal}): ${manifest.write.map((entry) => entry.target).join(', ')}`,
      );
    }
  }
  for (const temp of atomicWriteTemps(dir)) {
    fs.rmSync(temp, { force: true });
    done.push(`removed ${temp}, a temp file left by an interrupted write`);
  }
  return done;
}

/**
 * What a killed command left in and beside `dir`, without touching it: what `recoverMaterial` would act
 * on. Absolute paths.
 */
export function crashLeftovers(dir: string): string[] {
  const parent = path.dirname(path.resolve(dir));
  const name = path.basename(path.resolve(dir));
  const siblings = fs.existsSync(parent) ? fs.readdirSync(parent) : [];
  const found = siblings
    .filter(
      (sibling) =>
        sibling.startsWith(`.${name}.tmp-`) ||
        sibling === `.${name}.new` ||
        (sibling.startsWith(`${name}.backup-`) && sibling.includes('.tmp-')),
    )
    .map((sibling) => path.join(parent, sibling));
  if (isDirectory(path.join(dir, JOURNAL_DIR))) found.push(path.resolve(dir, JOURNAL_DIR));
  if (isDirectory(dir)) found.push(...atomicWriteTemps(dir).map((file) => path.resolve(file)));
  return found;
}

/** `.<name>.new` beside `dir`: a complete new material directory, committed, not yet in place. */
function newPathFor(dir: string): string {
  const absolute = path.resolve(dir);
  return path.join(path.dirname(absolute), `.${path.basename(absolute)}.new`);
}

function swapInNew(dir: string, backupPath: ((dir: string) => string) | undefined): string | undefined {
  let backup: string | undefined;
  if (fs.existsSync(dir)) {
    if (backupPath === undefined) throw new Error(`${dir} exists: cannot put ${newPathFor(dir)} in its place`);
    backup = backupPath(dir);
    fs.renameSync(dir, backup);
  }
  fs.renameSync(newPathFor(dir), dir);
  fsyncDirectory(path.dirname(path.resolve(dir)));
  return backup;
}

/** Same naming as material-dir's backupPathFor, without importing it (material-dir imports this module). */
function backupBeside(dir: string): string {
  const stamp = new Date()
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  const base = `${path.resolve(dir)}.backup-${stamp}`;
  let candidate = base;
  for (let n = 2; fs.existsSync(candidate); n++) candidate = `${base}-${n}`;
  return candidate;
}

/** Renames every journal entry still there over its target, removes what is to go, then the journal. */
function applyJournal(dir: string, manifest: Manifest): void {
  const journal = path.join(dir, JOURNAL_DIR);
  const touched = new Set<string>();
  for (const { entry, target } of manifest.write) {
    const from = path.join(journal, entry);
    const to = path.join(dir, target);
    if (!fs.existsSync(from)) continue; // moved before the kill
    mkdirsDurably(dir, path.dirname(to));
    fs.renameSync(from, to);
    touched.add(path.dirname(to));
  }
  for (const target of manifest.remove) {
    const file = path.join(dir, target);
    fs.rmSync(file, { force: true });
    touched.add(path.dirname(file));
    // A directory the removal emptied goes too (certs.d/<host>/), never the material directory itself, nor
    // node/ and its own directories: a node's bind mount of a removed directory would lose its files.
    for (
      let parent = path.dirname(file);
      isInside(dir, parent) && !isNodeMountPoint(path.relative(dir, parent));
      parent = path.dirname(parent)
    ) {
      if (!isDirectory(parent) || fs.readdirSync(parent).length > 0) break;
      fs.rmdirSync(parent);
      touched.add(path.dirname(parent));
    }
  }
  for (const directory of touched) if (isDirectory(directory)) fsyncDirectory(directory);
  // The manifest goes first: a journal without one is an uncommitted change, which recovery deletes.
  fs.rmSync(path.join(journal, MANIFEST));
  fs.rmSync(journal, { recursive: true, force: true });
  fsyncDirectory(dir);
}

function readManifest(journal: string): Manifest | undefined {
  let text: string;
  try {
    text = fs.readFileSync(path.join(journal, MANIFEST), 'utf8');
  } catch {
    return undefined;
  }
  const manifest = JSON.parse(text) as Manifest;
  for (const { entry, target } of manifest.write) {
    safeRelativePath(target);
    if (!/^\d+$/.test(entry)) throw new Error(`${journal}/${MANIFEST} names a journal entry ${entry}`);
  }
  manifest.remove.forEach(safeRelativePath);
  return manifest;
}

/** Creates `file` with `content`, born 0600 (a key is never readable by others, even for a moment), fsync'd. */
function writeDurably(file: string, content: string, mode: number): void {
  const fd = fs.openSync(file, 'wx', SECRET_FILE_MODE);
  try {
    fs.writeFileSync(fd, content);
    fs.fchmodSync(fd, mode); // the umask may have narrowed it, or the file is public
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Creates `target` and its missing parents up to `root`, each fsync'd into its parent: 0700, except node/
 * and below, which a node reads (0755; the one secret in it, registries.yaml, is a 0600 file).
 */
function mkdirsDurably(root: string, target: string): void {
  if (isDirectory(target) || !isInside(root, target)) return;
  mkdirsDurably(root, path.dirname(target));
  const relative = path.relative(root, target).split(path.sep).join('/');
  const mode = relative === NODE_DIR || relative.startsWith(`${NODE_DIR}/`) ? NODE_DIRECTORY_MODE : 0o700;
  fs.mkdirSync(target, { mode });
  fs.chmodSync(target, mode);
  fsyncDirectory(path.dirname(target));
}

function fsyncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Temp files of writeFileAtomic (`.name.<12 hex>.tmp`) anywhere under `dir`, outside the journal. */
function atomicWriteTemps(dir: string): string[] {
  const found: string[] = [];
  const walk = (current: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== JOURNAL_DIR) walk(full);
      } else if (/^\..+\.[0-9a-f]{12}\.tmp$/.test(entry.name)) found.push(full);
    }
  };
  walk(dir);
  return found;
}

function safeRelativePath(relativePath: string): string {
  const normal = path.normalize(relativePath);
  if (path.isAbsolute(normal) || normal === '.' || normal.split(path.sep).includes('..') || normal === JOURNAL_DIR)
    throw new Error(`a material change may only touch files inside the material directory, got ${relativePath}`);
  return normal;
}

/** node/ and the directories right inside it (certs/, certs.d/): what the nodes and kind mount. */
function isNodeMountPoint(relativeDir: string): boolean {
  const normal = relativeDir.split(path.sep).join('/');
  return normal === NODE_DIR || path.posix.dirname(normal) === NODE_DIR;
}

function isInside(root: string, target: string): boolean {
  const relative = path.relative(path.resolve(root), path.resolve(target));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

function isDirectory(dir: string): boolean {
  return fs.statSync(dir, { throwIfNoEntry: false })?.isDirectory() ?? false;
}
