import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { containerdHostsFiles } from '../lib/containerd-hosts';
import {
  applyCommand,
  assertMaterialDir,
  backupPathFor,
  copyToBackup,
  writeContainerdHostsDir,
} from '../lib/material-dir';
import { nodeRegistriesConfig } from '../lib/registries-yaml';

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
    expect(() => assertMaterialDir(path.join(work, 'nope'))).toThrow(
      `no material directory at ${work}/nope: create it with "private-registry init" (or npx cdk8s synth), or point 'dir' at it`,
    );
    fs.writeFileSync(path.join(work, 'file'), '');
    expect(() => assertMaterialDir(path.join(work, 'file'))).toThrow(
      `${work}/file is not a directory: point 'dir' (REGISTRY_MATERIAL_DIR) at the material directory`,
    );
  });
});

describe('applyCommand', () => {
  it('is synth and apply, telling synth where the material and the manifests are only when they are not the defaults', () => {
    expect(applyCommand()).toBe('npx cdk8s synth && kubectl apply -f dist');
    expect(applyCommand({ materialDir: "/my registry/it's" })).toBe(
      `REGISTRY_MATERIAL_DIR='/my registry/it'\\''s' npx cdk8s synth && kubectl apply -f dist`,
    );
    expect(applyCommand({ distDir: 'out' })).toBe('npx cdk8s synth --output out && kubectl apply -f out');
  });
});

describe('writeContainerdHostsDir', () => {
  const registries = nodeRegistriesConfig({
    hostname: 'container-registry.local',
    registryPort: 5000,
    nodePort: 31113,
    credentials: { username: 'u', password: 'p' },
    caFile: '/registry/certs/ca.crt',
  });
  const hostsToml = (dir: string, host: string): string =>
    fs.readFileSync(path.join(dir, 'node/certs.d', host, 'hosts.toml'), 'utf8');

  it('writes what containerdHostsFiles renders, 0644, and drops the hosts.toml of hosts no longer named', () => {
    const dir = path.join(work, 'hosts-dir');
    fs.mkdirSync(path.join(dir, 'node/certs.d/old.example:5000'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'node/certs.d/docker.io'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'node/certs.d/old.example:5000/hosts.toml'), 'stale');
    fs.writeFileSync(path.join(dir, 'node/certs.d/docker.io/hosts.toml'), 'stale');
    fs.writeFileSync(path.join(dir, 'node/certs.d/docker.io/ca.crt'), 'kept: not ours');

    expect(writeContainerdHostsDir(dir, registries)).toEqual(['container-registry.local:5000', 'localhost:31113']);
    for (const file of containerdHostsFiles(registries)) {
      expect(hostsToml(dir, file.host)).toBe(file.content);
      expect(fs.statSync(path.join(dir, 'node/certs.d', file.host, 'hosts.toml')).mode & 0o777).toBe(0o644);
    }
    expect(fs.readdirSync(path.join(dir, 'node/certs.d')).sort()).toEqual([
      'container-registry.local:5000',
      'docker.io',
      'localhost:31113',
    ]);
    expect(fs.readdirSync(path.join(dir, 'node/certs.d/docker.io'))).toEqual(['ca.crt']);
  });

  it('names registries.yaml when an endpoint cannot be rendered', () => {
    const dir = path.join(work, 'hosts-dir-bad');
    expect(() => writeContainerdHostsDir(dir, { mirrors: { 'x:1': { endpoint: ['https://'] } } })).toThrow(
      `${dir}/node/certs/registries.yaml: containerdHostsFiles: cannot parse registry endpoint "https://": write it as https://host[:port][/path]`,
    );
  });
});
