import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { assertMaterialDir, backupPathFor, copyToBackup } from '../lib/material-dir';

const NOW = new Date('2025-01-02T03:04:05.678Z');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'material-dir-'));
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe('backupPathFor', () => {
  it('names the backup after the directory and the UTC second, as the user wrote the path', () => {
    expect(backupPathFor(path.join(work, 'registry'), NOW)).toBe(path.join(work, 'registry.backup-20250102T030405Z'));
    expect(backupPathFor('registry/', NOW)).toBe('registry.backup-20250102T030405Z');
    // "." is the current directory: its backup goes beside it, not inside it.
    expect(backupPathFor('.', NOW)).toBe(path.join('..', `${path.basename(process.cwd())}.backup-20250102T030405Z`));
  });

  it('copyToBackup keeps contents and modes, and a second backup in the same second gets a suffix', () => {
    const dir = path.join(work, 'material');
    fs.mkdirSync(path.join(dir, 'certs'), { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(dir, 'certs/ca.key'), 'key', { mode: 0o600 });
    const first = copyToBackup(dir, NOW);
    const second = copyToBackup(dir, NOW);
    expect([first, second]).toEqual([`${dir}.backup-20250102T030405Z`, `${dir}.backup-20250102T030405Z-2`]);
    expect(fs.readFileSync(path.join(first, 'certs/ca.key'), 'utf8')).toBe('key');
    expect(fs.statSync(path.join(first, 'certs/ca.key')).mode & 0o777).toBe(0o600);
    expect(fs.statSync(first).mode & 0o777).toBe(fs.statSync(dir).mode & 0o777);
    expect(fs.readdirSync(work).filter((name) => name.includes('.tmp-'))).toEqual([]);
  });
});

describe('assertMaterialDir', () => {
  it('names the fix when the directory is missing or a file', () => {
    expect(() => assertMaterialDir(path.join(work, 'nope'))).toThrow(`no material directory at ${work}/nope: create it with "private-registry init" (or npx cdk8s synth), or point 'dir' at it`);
    fs.writeFileSync(path.join(work, 'file'), '');
    expect(() => assertMaterialDir(path.join(work, 'file'))).toThrow(`${work}/file is not a directory: point 'dir' at the material directory`);
  });
});
