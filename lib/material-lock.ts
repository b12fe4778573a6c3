import fs from 'node:fs';
import path from 'node:path';
import { ValidationError } from './validate';

/**
 * One writer at a time: every command that changes the material directory, and every reader that needs a
 * consistent snapshot of it, runs under one exclusive lock, `<dir>.lock`. It is a sibling of the directory,
 * so `init` can lock a directory that does not exist yet. The file holds the holder's pid: a lock whose pid
 * is dead was left by a killed process and is taken over.
 */

/** How long a command waits for another one holding the lock before it gives up. */
export const LOCK_WAIT_MS = 30_000;
const RETRY_MS = 25;

/** How to take the lock: how long to wait, whether a reader without write access may read unlocked. */
export interface LockOptions {
  /** @default LOCK_WAIT_MS */
  readonly waitMs?: number;
  /**
   * A reader: when the lock cannot be created for lack of permission (a material directory someone else
   * owns, a read-only mount), it reads without the lock instead of failing. @default false
   */
  readonly reader?: boolean;
  /**
   * Create the parent directory when it is missing (init, the first synth). Otherwise a missing parent
   * means there is no material to guard: `fn` runs without the lock and finds nothing. @default false
   */
  readonly createParent?: boolean;
}

/** `<dir>.lock`, beside the directory. */
export function lockPathFor(dir: string): string {
  return `${path.resolve(dir)}.lock`;
}

/** Locks this process holds, by lock path, with a count: a locked function may call another one. */
const held = new Map<string, number>();

/** How a `withMaterialLock` callback runs: first taker of the lock, nested in a holder, or without it. */
export type LockState = 'acquired' | 'nested' | 'unlocked';

/**
 * Runs `fn` holding the lock of `dir`, waiting up to `waitMs` for another process to release it. The same
 * process may nest calls for the same directory. Synchronous, like the material functions it guards.
 */
export function withMaterialLock<T>(dir: string, fn: (state: LockState) => T, options: LockOptions = {}): T {
  const lock = lockPathFor(dir);
  const count = held.get(lock) ?? 0;
  if (count === 0 && !acquire(lock, options)) return fn('unlocked');
  held.set(lock, count + 1);
  try {
    return fn(count === 0 ? 'acquired' : 'nested');
  } finally {
    if (count === 0) {
      held.delete(lock);
      release(lock);
    } else held.set(lock, count);
  }
}

/** True when this process holds the lock of `dir` (for functions that must only run under it). */
export function holdsMaterialLock(dir: string): boolean {
  return held.has(lockPathFor(dir));
}

/** The pid in a lock file, or undefined when it holds none (see `acquire`: it never does for long). */
export function lockHolder(lock: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(lock, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** False when `fn` runs without the lock (see LockOptions). */
function acquire(lock: string, options: LockOptions): boolean {
  const deadline = Date.now() + (options.waitMs ?? LOCK_WAIT_MS);
  for (;;) {
    try {
      create(lock);
      removeDeadPidFiles(lock);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (options.reader === true && (code === 'EACCES' || code === 'EPERM' || code === 'EROFS')) return false;
      const noParent = code === 'ENOENT' || code === 'ENOTDIR';
      if (noParent && options.createParent !== true) return false;
      if (noParent) fs.mkdirSync(path.dirname(lock), { recursive: true });
      else if (code !== 'EEXIST') throw error;
    }
    if (removeIfStale(lock)) continue;
    if (Date.now() >= deadline) {
      const holder = lockHolder(lock);
      throw new ValidationError(
        `${lock} is held by ${holder === undefined ? 'another process' : `process ${holder}`}, which is still changing the material: wait for it to finish and run again; if no such process exists, delete ${lock}`,
      );
    }
    sleep(RETRY_MS);
  }
}

/**
 * The lock file never exists without a pid: the pid is written to `<lock>.<pid>` first, and that file is
 * hard-linked to the lock name, which fails with EEXIST exactly like an O_EXCL create.
 */
function create(lock: string): void {
  const temp = `${lock}.${process.pid}`;
  fs.writeFileSync(temp, `${process.pid}\n`, { mode: 0o644 });
  try {
    fs.linkSync(temp, lock);
  } finally {
    removeFile(temp);
  }
}

/**
 * Removes the lock (and `<lock>.<pid>` files) of processes that are gone. A lock with our own pid that this
 * process does not hold was left by an earlier process that had the same pid.
 */
function removeIfStale(lock: string): boolean {
  removeDeadPidFiles(lock);
  let before: fs.Stats;
  try {
    before = fs.statSync(lock);
  } catch {
    return true; // released meanwhile
  }
  const pid = lockHolder(lock);
  if (pid === undefined || (pid !== process.pid && isAlive(pid))) return false;
  // Only the file we judged: another process may have taken the lock over in between.
  const now = fs.statSync(lock, { throwIfNoEntry: false });
  if (now?.ino === before.ino) fs.rmSync(lock, { force: true });
  return true;
}

/** `<lock>.<pid>` files of processes killed between writing their pid and linking it to the lock. */
function removeDeadPidFiles(lock: string): void {
  const prefix = `${path.basename(lock)}.`;
  for (const name of fs.readdirSync(path.dirname(lock))) {
    const pid = name.startsWith(prefix) ? Number(name.slice(prefix.length)) : Number.NaN;
    if (Number.isInteger(pid) && pid !== process.pid && !isAlive(pid))
      fs.rmSync(path.join(path.dirname(lock), name), { force: true });
  }
}

function release(lock: string): void {
  if (lockHolder(lock) === process.pid) removeFile(lock);
}

/** `rm -f` of one file. (fs.rmSync loads Node's recursive remover, a module load on every command and synth.) */
function removeFile(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));
function sleep(ms: number): void {
  Atomics.wait(sleeper, 0, 0, ms);
}
