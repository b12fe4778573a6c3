import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES, readMaterial } from '../../lib/material';
import { migrateMaterial } from '../../lib/material-layout';
import { captureIo, materialTemplate, read, treeHashes } from './helpers';

/** The material as the first layout had it: ca.crt, registries.yaml and certs.d beside the keys. */
function oldLayoutCopy(template: { copy(): string }): string {
  const dir = template.copy();
  fs.renameSync(path.join(dir, MATERIAL_FILES.caCertificate), path.join(dir, 'certs/ca.crt'));
  fs.renameSync(path.join(dir, MATERIAL_FILES.registriesYaml), path.join(dir, 'certs/registries.yaml'));
  fs.renameSync(path.join(dir, CONTAINERD_HOSTS_DIR), path.join(dir, 'certs.d'));
  fs.rmSync(path.join(dir, 'node'), { recursive: true });
  return dir;
}

describe('migrate: old-layout material moves into node/', () => {
  let template: ReturnType<typeof materialTemplate>;
  beforeAll(() => {
    template = materialTemplate();
  });

  it('moves ca.crt, registries.yaml and certs.d into node/, same bytes, modes of the new layout', async () => {
    const dir = oldLayoutCopy(template);
    const before = treeHashes(template.dir);
    const io = captureIo();
    expect(await main(['migrate', '--dir', dir], io)).toBe(0);
    expect(treeHashes(dir)).toEqual(before);
    expect(fs.existsSync(path.join(dir, 'certs.d'))).toBe(false);
    expect(fs.readdirSync(path.join(dir, 'certs')).sort()).toEqual(['ca.key', 'tls.crt', 'tls.key']);
    expect(fs.statSync(path.join(dir, MATERIAL_FILES.registriesYaml)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.join(dir, MATERIAL_FILES.caCertificate)).mode & 0o777).toBe(0o644);
    for (const directory of ['node', 'node/certs', 'node/certs.d'])
      expect(fs.statSync(path.join(dir, directory)).mode & 0o777).toBe(0o755);
    expect(io.err()).toContain(`into ${dir}/node: the nodes now mount only that directory, read-only\n`);
    expect(io.err()).toContain('k3d cluster delete NAME && k3d cluster create --config k3d.yaml\n');
    expect(readMaterial(dir).nodeCredentials.username).toBe('registry');
  });

  it('a second run has nothing to do', async () => {
    const dir = template.copy();
    const before = treeHashes(dir);
    const io = captureIo();
    expect(await main(['migrate', '--dir', dir], io)).toBe(0);
    expect(io.err()).toBe(`${dir} already has the current layout: nothing to migrate\n`);
    expect(treeHashes(dir)).toEqual(before);
  });

  it('finishes a run stopped half-way (new files written, some old ones not yet removed)', () => {
    const dir = oldLayoutCopy(template);
    fs.mkdirSync(path.join(dir, 'node/certs'), { recursive: true });
    fs.copyFileSync(path.join(dir, 'certs/ca.crt'), path.join(dir, MATERIAL_FILES.caCertificate));
    expect(migrateMaterial(dir).sort()).toContain('certs/registries.yaml');
    expect(treeHashes(dir)).toEqual(treeHashes(template.dir));
  });

  it('every other command refuses old-layout material and names migrate', async () => {
    const dir = oldLayoutCopy(template);
    const before = treeHashes(dir);
    for (const args of [['k3d-config'], ['user', 'list'], ['certs', 'show'], ['trust']]) {
      const io = captureIo();
      expect(await main([...args, '--dir', dir], io), args.join(' ')).toBe(2);
      expect(io.err()).toBe(
        `error: ${dir} has the old material layout (certs/ca.crt, certs/registries.yaml, certs.d at the top, and a k3d cluster made from it mounts the whole directory, keys included, on every node): move what the nodes read into ${dir}/node with "private-registry migrate --dir ${dir}", then recreate the cluster from "private-registry k3d-config", which mounts only ${dir}/node, read-only\n`,
      );
    }
    expect(treeHashes(dir)).toEqual(before);
  });

  it('doctor explains the change and the fix, and exits 1', async () => {
    const dir = oldLayoutCopy(template);
    const io = captureIo();
    expect(await main(['doctor', '--dir', dir, '--dist', path.join(dir, 'no-dist')], io)).toBe(1);
    expect(io.out()).toBe(
      `FAIL  layout: ${dir} has the old material layout (certs/ca.crt, certs/registries.yaml, certs.d at the top, and a k3d cluster made from it mounts the whole directory, keys included, on every node); the nodes now mount only ${dir}/node, read-only, so no key, htpasswd or password reaches a node; fix: private-registry migrate --dir ${dir}, then recreate the cluster from "private-registry k3d-config"\n`,
    );
    expect(io.err()).toBe('1 of 1 checks failed\n');
  });

  it('the node directory holds no key, htpasswd or password', () => {
    const files: string[] = [];
    const walk = (directory: string): void => {
      for (const entry of fs.readdirSync(directory, { withFileTypes: true })) {
        const file = path.join(directory, entry.name);
        if (entry.isDirectory()) walk(file);
        else files.push(path.relative(template.dir, file));
      }
    };
    walk(path.join(template.dir, 'node'));
    expect(files.sort()).toEqual([
      'node/certs.d/container-registry.local:5000/hosts.toml',
      'node/certs.d/localhost:31113/hosts.toml',
      'node/certs/ca.crt',
      'node/certs/registries.yaml',
    ]);
    const all = files.map((file) => read(template.dir, file)).join('\n');
    expect(all).not.toMatch(/PRIVATE KEY/);
    expect(all).not.toContain(read(template.dir, 'auth/htpasswd').trim());
  });
});
