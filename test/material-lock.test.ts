import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { holdsMaterialLock, lockHolder, lockPathFor, withMaterialLock } from '../lib/material-lock';
import { ValidationError } from '../lib/validate';

let work: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'lock-'));
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

/** The pid of a process that has exited: a lock holding it was left by a killed command. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(child.stdout);
}

describe('withMaterialLock', () => {
  it('holds <dir>.lock with our pid while fn runs, nests in the same process, and removes it after', () => {
    const dir = path.join(work, 'registry');
    const lock = `${dir}.lock`;
    expect(lockPathFor(dir)).toBe(lock);
    const states: string[] = [];
    const result = withMaterialLock(dir, (state) => {
      states.push(state);
      expect(lockHolder(lock)).toBe(process.pid);
      expect(holdsMaterialLock(dir)).toBe(true);
      withMaterialLock(dir, (inner) => states.push(inner));
      expect(fs.existsSync(lock)).toBe(true);
      return 42;
    });
    expect(result).toBe(42);
    expect(states).toEqual(['acquired', 'nested']);
    expect(fs.existsSync(lock)).toBe(false);
    expect(holdsMaterialLock(dir)).toBe(false);
    // Nothing else is left beside the directory (the pid file the lock is linked from is gone too).
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it('releases the lock when fn throws', () => {
    const dir = path.join(work, 'registry');
    expect(() =>
      withMaterialLock(dir, () => {
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(fs.existsSync(`${dir}.lock`)).toBe(false);
  });

  it('takes over a lock whose process is dead, and removes its leftover pid file', () => {
    const dir = path.join(work, 'registry');
    const pid = deadPid();
    fs.writeFileSync(`${dir}.lock`, `${pid}\n`);
    fs.writeFileSync(`${dir}.lock.${pid}`, `${pid}\n`);
    expect(withMaterialLock(dir, (state) => state)).toBe('acquired');
    expect(fs.readdirSync(work)).toEqual([]);
  });

  it('takes over a lock holding our own pid that this process does not hold (an earlier process, same pid)', () => {
    const dir = path.join(work, 'registry');
    fs.writeFileSync(`${dir}.lock`, `${process.pid}\n`);
    expect(withMaterialLock(dir, (state) => state)).toBe('acquired');
  });

  it('waits for a live holder, then fails naming its pid and the fix; the holder keeps its lock', () => {
    const dir = path.join(work, 'registry');
    const holder = spawn('sleep', ['30']);
    try {
      fs.writeFileSync(`${dir}.lock`, `${holder.pid}\n`);
      const started = Date.now();
      let error: unknown;
      try {
        withMaterialLock(dir, () => undefined, { waitMs: 300 });
      } catch (caught) {
        error = caught;
      }
      expect(Date.now() - started).toBeGreaterThanOrEqual(300);
      expect(error).toBeInstanceOf(ValidationError);
      expect((error as Error).message).toBe(
        `${dir}.lock is held by process ${holder.pid}, which is still changing the material: wait for it to finish and run again; if no such process exists, delete ${dir}.lock`,
      );
      expect(lockHolder(`${dir}.lock`)).toBe(holder.pid);
    } finally {
      holder.kill('SIGKILL');
    }
  });

  it('gets the lock as soon as a live holder releases it', async () => {
    const dir = path.join(work, 'registry');
    fs.writeFileSync(`${dir}.lock`, '1\n'); // pid 1 is alive: only the release lets us in
    // The wait blocks this thread, so the release comes from another process.
    const release = spawn('sh', ['-c', `sleep 0.2; rm -f '${dir}.lock'`]);
    const state = withMaterialLock(dir, (s) => s, { waitMs: 10_000 });
    expect(state).toBe('acquired');
    release.kill();
  });

  it('with no parent directory runs without a lock (nothing to guard), or creates it with createParent', () => {
    const dir = path.join(work, 'missing', 'registry');
    expect(withMaterialLock(dir, (state) => state)).toBe('unlocked');
    expect(fs.existsSync(path.join(work, 'missing'))).toBe(false);
    expect(withMaterialLock(dir, (state) => state, { createParent: true })).toBe('acquired');
    expect(fs.readdirSync(path.join(work, 'missing'))).toEqual([]);
  });
});
