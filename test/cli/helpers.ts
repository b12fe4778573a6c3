import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CliIo } from '../../cli/io';
import { type MaterialOptions, generateMaterial, writeNewMaterial } from '../../lib/material';
import { tempDir } from '../support/temp-dir';

/** The fixture material's node user and password (random passwords would make assertions harder). */
export const FIXTURE_USER = { username: 'registry', password: 'fixture-password-1' };
/** A fixed clock for everything the tests create and check. */
export const NOW = new Date('2025-01-02T03:04:05Z');

export interface CapturedIo extends CliIo {
  out(): string;
  err(): string;
}

/** An io whose output is collected; `stdin` is what --password-stdin reads. */
export function captureIo(
  options: { stdin?: string | Uint8Array; now?: Date; env?: Record<string, string> } = {},
): CapturedIo {
  let out = '';
  let err = '';
  return {
    stdout: { write: (text: string) => (out += text) },
    stderr: { write: (text: string) => (err += text) },
    readStdin: async () => {
      if (options.stdin === undefined) throw new Error('the test gave no stdin');
      return typeof options.stdin === 'string' ? Buffer.from(options.stdin, 'utf8') : options.stdin;
    },
    now: () => options.now ?? NOW,
    env: options.env ?? {},
    out: () => out,
    err: () => err,
  };
}

export { tempDir } from '../support/temp-dir';

/**
 * Material made once (RSA key generation is the slow part) and copied per test: `copy()` returns a fresh
 * `<temp>/registry` with the same bytes and modes.
 */
export function materialTemplate(options: MaterialOptions = {}): { dir: string; copy(): string } {
  const dir = path.join(tempDir('cli-template-'), 'registry');
  writeNewMaterial(
    dir,
    generateMaterial({ username: FIXTURE_USER.username, password: FIXTURE_USER.password, now: NOW, ...options }),
  );
  return {
    dir,
    copy: () => {
      const target = path.join(tempDir(), 'registry');
      fs.cpSync(dir, target, { recursive: true });
      return target;
    },
  };
}

/** Every file under `dir` → sha256 of its content and its mode: equal before and after means untouched. */
export function treeHashes(dir: string): Record<string, string> {
  const hashes: Record<string, string> = {};
  const walk = (current: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const relative = path.relative(dir, full);
      if (entry.isDirectory()) {
        hashes[`${relative}/`] = (fs.statSync(full).mode & 0o777).toString(8);
        walk(full);
      } else {
        const sha = createHash('sha256').update(fs.readFileSync(full)).digest('hex');
        hashes[relative] = `${sha} ${(fs.statSync(full).mode & 0o777).toString(8)}`;
      }
    }
  };
  walk(dir);
  return hashes;
}

/** Runs `fn` in `dir`, as a user who typed a relative --dir there; the working directory is restored after. */
export async function inDirectory<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const previous = process.cwd();
  process.chdir(dir);
  try {
    return await fn();
  } finally {
    process.chdir(previous);
  }
}

export function read(dir: string, relativePath: string): string {
  return fs.readFileSync(path.join(dir, relativePath), 'utf8');
}

export function write(dir: string, relativePath: string, content: string): void {
  fs.writeFileSync(path.join(dir, relativePath), content);
}
