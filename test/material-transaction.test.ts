import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { doctor } from '../cli/commands/doctor';
import {
  JOURNAL_DIR,
  commitMaterialChange,
  crashLeftovers,
  createMaterialDirectory,
  recoverMaterial,
  underMaterialLock,
} from '../lib/material-transaction';
import { captureIo, materialTemplate, treeHashes } from './cli/helpers';

let work: string;
let dir: string;
beforeEach(() => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'transaction-'));
  dir = path.join(work, 'registry');
});
afterEach(() => fs.rmSync(work, { recursive: true, force: true }));

const file = (relativePath: string, content: string, mode = 0o600) => ({ relativePath, content, mode });
const read = (relativePath: string) => fs.readFileSync(path.join(dir, relativePath), 'utf8');
const modeOf = (full: string) => fs.statSync(full).mode & 0o777;

/** A journal as a command killed at some instant of commitMaterialChange leaves it. */
function journal(entries: Record<string, string>, manifest?: object): void {
  const journalDir = path.join(dir, JOURNAL_DIR);
  fs.mkdirSync(journalDir, { mode: 0o700 });
  for (const [name, content] of Object.entries(entries)) fs.writeFileSync(path.join(journalDir, name), content);
  if (manifest !== undefined) fs.writeFileSync(path.join(journalDir, 'manifest'), JSON.stringify(manifest));
}

describe('createMaterialDirectory', () => {
  it('creates the directory 0700 with each file in its mode, and leaves nothing beside it', () => {
    expect(createMaterialDirectory(dir, [file('certs/ca.key', 'key'), file('certs/ca.crt', 'crt', 0o644)])).toBe(
      undefined,
    );
    expect(read('certs/ca.key')).toBe('key');
    expect(modeOf(dir)).toBe(0o700);
    expect(modeOf(path.join(dir, 'certs'))).toBe(0o700);
    expect(modeOf(path.join(dir, 'certs/ca.key'))).toBe(0o600);
    expect(modeOf(path.join(dir, 'certs/ca.crt'))).toBe(0o644);
    expect(fs.readdirSync(work)).toEqual(['registry']);
  });

  it('refuses an existing directory without a backup path, and swaps it to the backup with one', () => {
    createMaterialDirectory(dir, [file('a', 'old')]);
    expect(() => createMaterialDirectory(dir, [file('a', 'new')])).toThrow(/already exists/);
    expect(read('a')).toBe('old');
    const backup = createMaterialDirectory(dir, [file('a', 'new')], (d) => `${d}.backup-1`);
    expect(backup).toBe(`${dir}.backup-1`);
    expect(read('a')).toBe('new');
    expect(fs.readFileSync(`${dir}.backup-1/a`, 'utf8')).toBe('old');
    expect(fs.readdirSync(work).sort()).toEqual(['registry', 'registry.backup-1']);
  });
});

describe('commitMaterialChange', () => {
  it('writes and removes files, creates missing directories 0700, and removes the journal and emptied directories', () => {
    createMaterialDirectory(dir, [file('auth/htpasswd', 'a'), file('certs.d/old/hosts.toml', 'x', 0o644)]);
    commitMaterialChange(dir, {
      write: [file('auth/htpasswd', 'b'), file('certs.d/new/hosts.toml', 'y', 0o644)],
      remove: ['certs.d/old/hosts.toml'],
    });
    expect(read('auth/htpasswd')).toBe('b');
    expect(read('certs.d/new/hosts.toml')).toBe('y');
    expect(modeOf(path.join(dir, 'certs.d/new/hosts.toml'))).toBe(0o644);
    expect(modeOf(path.join(dir, 'certs.d/new'))).toBe(0o700);
    expect(fs.existsSync(path.join(dir, 'certs.d/old'))).toBe(false);
    expect(fs.readdirSync(dir).sort()).toEqual(['auth', 'certs.d']);
    expect(fs.readdirSync(work)).toEqual(['registry']);
  });

  it('refuses a path outside the material directory before writing anything', () => {
    createMaterialDirectory(dir, [file('a', 'old')]);
    expect(() => commitMaterialChange(dir, { write: [file('a', 'new'), file('../escape', 'x')] })).toThrow(
      'a material change may only touch files inside the material directory, got ../escape',
    );
    expect(fs.existsSync(path.join(work, 'escape'))).toBe(false);
  });
});

describe('recoverMaterial (under the lock, before any command)', () => {
  it('deletes an uncommitted journal (no manifest): the material stays as it was', () => {
    createMaterialDirectory(dir, [file('a', 'old')]);
    journal({ 0: 'new' });
    expect(crashLeftovers(dir)).toEqual([path.join(dir, JOURNAL_DIR)]);
    expect(recoverMaterial(dir)).toEqual([
      `removed ${path.join(dir, JOURNAL_DIR)}, a change an interrupted command had not committed: the material is as before it`,
    ]);
    expect(read('a')).toBe('old');
    expect(fs.readdirSync(dir)).toEqual(['a']);
  });

  it('rolls a committed journal forward, also when some files were already moved', () => {
    createMaterialDirectory(dir, [file('a', 'old-a'), file('b', 'old-b'), file('gone', 'x')]);
    fs.writeFileSync(path.join(dir, 'a'), 'new-a'); // entry 0 was renamed before the kill
    journal(
      { 1: 'new-b' },
      {
        write: [
          { entry: '0', target: 'a' },
          { entry: '1', target: 'b' },
        ],
        remove: ['gone'],
      },
    );
    expect(recoverMaterial(dir)).toEqual([
      `finished a change an interrupted command had committed (${path.join(dir, JOURNAL_DIR)}): a, b`,
    ]);
    expect([read('a'), read('b')]).toEqual(['new-a', 'new-b']);
    expect(fs.readdirSync(dir).sort()).toEqual(['a', 'b']);
  });

  it('finishes an init --force killed between its two renames: the new material in place, the old in a backup', () => {
    createMaterialDirectory(dir, [file('a', 'old')]);
    fs.mkdirSync(path.join(work, '.registry.new'), { mode: 0o700 });
    fs.writeFileSync(path.join(work, '.registry.new', 'a'), 'new');
    const [line] = recoverMaterial(dir);
    const backups = fs.readdirSync(work).filter((name) => name.startsWith('registry.backup-'));
    expect(backups).toHaveLength(1);
    expect(line).toBe(
      `finished an interrupted init: ${dir} holds the material it created, the old material is in ${path.join(work, backups[0])}`,
    );
    expect(read('a')).toBe('new');
    expect(fs.readFileSync(path.join(work, backups[0], 'a'), 'utf8')).toBe('old');
  });

  it('puts a committed new directory in place when the old one was already moved away', () => {
    fs.mkdirSync(path.join(work, '.registry.new'), { mode: 0o700 });
    fs.writeFileSync(path.join(work, '.registry.new', 'a'), 'new');
    expect(recoverMaterial(dir)).toEqual([`finished an interrupted init: ${dir} holds the material it created`]);
    expect(read('a')).toBe('new');
  });

  it('removes unfinished temp siblings, backup copies and atomic-write temps', () => {
    createMaterialDirectory(dir, [file('auth/htpasswd', 'a')]);
    const leftovers = [
      path.join(work, '.registry.tmp-AbC123'),
      path.join(work, 'registry.backup-20250102T030405Z.tmp-XyZ789'),
      path.join(dir, 'auth', '.htpasswd.0123456789ab.tmp'),
    ];
    fs.mkdirSync(leftovers[0], { mode: 0o700 });
    fs.mkdirSync(leftovers[1], { mode: 0o700 });
    fs.writeFileSync(leftovers[2], 'secret', { mode: 0o600 });
    expect(crashLeftovers(dir).sort()).toEqual([...leftovers].sort());
    expect(recoverMaterial(dir)).toHaveLength(3);
    expect(fs.readdirSync(work)).toEqual(['registry']);
    expect(fs.readdirSync(path.join(dir, 'auth'))).toEqual(['htpasswd']);
    expect(crashLeftovers(dir)).toEqual([]);
  });

  it('runs once, at the outermost lock, and passes what it did to fn', () => {
    createMaterialDirectory(dir, [file('a', 'old')]);
    journal({ 0: 'new' });
    const seen = underMaterialLock(dir, (outer) => [outer.length, underMaterialLock(dir, (inner) => inner.length)]);
    expect(seen).toEqual([1, 0]);
  });
});

describe('what a crash leaves', () => {
  it('is git-ignored by the project .gitignore', () => {
    const repo = path.join(work, 'repo');
    fs.mkdirSync(repo);
    fs.copyFileSync(path.join(__dirname, '..', '.gitignore'), path.join(repo, '.gitignore'));
    execFileSync('git', ['init', '-q'], { cwd: repo });
    const paths = [
      'registry.lock',
      'registry.lock.12345',
      '.registry.tmp-AbC123/certs/ca.key',
      '.registry.new/certs/ca.key',
      'registry.backup-20250102T030405Z.tmp-XyZ789/certs/ca.key',
      'registry.backup-20250102T030405Z/certs/ca.key',
      `registry/${JOURNAL_DIR}/0`,
      'registry/auth/.htpasswd.0123456789ab.tmp',
    ];
    for (const leftover of paths) {
      fs.mkdirSync(path.dirname(path.join(repo, leftover)), { recursive: true });
      fs.writeFileSync(path.join(repo, leftover), 'x');
    }
    const ignored = execFileSync('git', ['check-ignore', ...paths], { cwd: repo, encoding: 'utf8' });
    expect(ignored.trim().split('\n')).toEqual(paths);
  });

  it('is reported by doctor with the fix, after doctor finished it', async () => {
    const template = materialTemplate();
    const copy = template.copy();
    fs.mkdirSync(path.join(copy, JOURNAL_DIR), { mode: 0o700 });
    fs.writeFileSync(path.join(copy, JOURNAL_DIR, '0'), 'half', { mode: 0o600 });
    const io = captureIo();
    expect(await doctor({ dir: copy, dist: path.join(work, 'no-dist'), json: false }, io)).toBe(1);
    expect(io.out().split('\n')[0]).toBe(
      `FAIL  interrupted command: an interrupted command had left its work half done; now: removed ${path.join(copy, JOURNAL_DIR)}, a change an interrupted command had not committed: the material is as before it; fix: apply the material as it now is: REGISTRY_MATERIAL_DIR=${copy} npx cdk8s synth && kubectl apply -f dist`,
    );
    expect(io.err()).toMatch(/1 of 18 checks failed\n$/);
    const before = treeHashes(copy);
    const again = captureIo();
    expect(await doctor({ dir: copy, dist: path.join(work, 'no-dist'), json: false }, again)).toBe(0);
    expect(again.out()).not.toContain('interrupted command');
    expect(treeHashes(copy)).toEqual(before);
  });
});
