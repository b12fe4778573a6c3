import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'cdk8s';
import { beforeAll, describe, expect, it } from 'vitest';
import { doctor } from '../../cli/commands/doctor';
import { userAdd } from '../../cli/commands/user';
import { main } from '../../cli/main';
import { readMaterial } from '../../lib/material';
import { RegistryChart } from '../../lib/registry-chart';
import { freeLoopbackPort } from '../support/free-port';
import { NOW, captureIo, materialTemplate, read, tempDir, treeHashes, write } from './helpers';

/** The manifests synth writes for `materialDir`, the way charts/main.ts makes them. */
function synthesize(materialDir: string): string {
  const outdir = path.join(tempDir('cli-dist-'), 'dist');
  const app = new App({ outdir });
  new RegistryChart(app, 'container-registry', { material: readMaterial(materialDir) });
  app.synth();
  return outdir;
}

describe('doctor', () => {
  let template: ReturnType<typeof materialTemplate>;
  let noDist: string;
  beforeAll(() => {
    template = materialTemplate();
    noDist = path.join(tempDir(), 'dist');
  });

  it('prints one line per check and exits 0 when all pass', async () => {
    const io = captureIo();
    expect(await doctor({ dir: template.dir, dist: noDist, json: false }, io)).toBe(0);
    const lines = io.out().trimEnd().split('\n');
    expect(lines).toHaveLength(17);
    expect(lines.every((line) => line.startsWith('ok    '))).toBe(true);
    expect(lines[0]).toBe(`ok    files: all 7 material files are in ${template.dir}`);
    expect(io.err()).toBe(`no ${noDist}/ directory: the synthesized manifests are not checked\nall 17 checks passed\n`);
  });

  it('checks material made for another Service and namespace against --service-name and --namespace', async () => {
    const platform = materialTemplate({ serviceName: 'images', namespace: 'platform' });
    const failing = captureIo();
    expect(await main(['doctor', '--dir', platform.dir, '--dist', noDist], failing)).toBe(1);
    expect(failing.out()).toContain('FAIL  server names: the certificate lacks subjectAltNames container-registry,');
    const io = captureIo();
    const args = [
      'doctor',
      '--dir',
      platform.dir,
      '--dist',
      noDist,
      '--service-name',
      'images',
      '--namespace',
      'platform',
    ];
    expect(await main(args, io)).toBe(0);
    expect(io.out()).toContain('images.platform.svc.cluster.local');
    const bad = captureIo();
    expect(await main(['doctor', '--dir', platform.dir, '--namespace', 'Platform'], bad)).toBe(2);
    expect(bad.err()).toContain('--namespace must be a DNS label');
  });

  it('exits 1 with FAIL lines that carry the fix', async () => {
    const dir = template.copy();
    fs.chmodSync(path.join(dir, 'certs/tls.key'), 0o644);
    const io = captureIo();
    expect(await main(['doctor', '--dir', dir, '--dist', noDist], io)).toBe(1);
    expect(io.out()).toContain(
      `FAIL  file modes: certs/tls.key is 0644: keys and credentials must be readable by their owner only; fix: chmod 600 ${dir}/certs/tls.key\n`,
    );
    expect(io.err()).toContain('1 of 17 checks failed\n');
  });

  it('--json prints the checks as data', async () => {
    const io = captureIo({ now: new Date(NOW.getTime() + 830 * 86_400_000) });
    expect(await main(['doctor', '--json', '--dir', template.dir, '--dist', noDist], io)).toBe(1);
    const report = JSON.parse(io.out()) as { ok: boolean; checks: { name: string; ok: boolean; fix?: string }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((check) => !check.ok)).toEqual([
      expect.objectContaining({ name: 'server certificate expiry', fix: 'private-registry certs renew' }),
    ]);
  });

  it('warns 30 days ahead of an expiry, with the fix, and still exits 0', async () => {
    const io = captureIo({ now: new Date(NOW.getTime() + 800 * 86_400_000) });
    expect(await main(['doctor', '--dir', template.dir, '--dist', noDist], io)).toBe(0);
    expect(io.out()).toContain(
      `WARN  server certificate expiry: ${template.dir}/certs/tls.crt expires in 25 days (2027-04-07T03:04:05.000Z), fewer than 30; fix: private-registry certs renew\n`,
    );
    expect(io.err()).toMatch(/all \d+ checks passed \(1 with a warning: act before it fails\)\n$/);
  });

  it('compares dist/ with the material: in step after synth, stale after a user is added', async () => {
    const dir = template.copy();
    const dist = synthesize(dir);
    const inStep = captureIo();
    expect(await doctor({ dir, dist, json: false }, inStep)).toBe(0);
    expect(inStep.out()).toContain(
      `ok    dist certificate: Secret container-registry-tls (tls.crt) in ${dist} matches ${dir}/certs/tls.crt\n`,
    );
    expect(inStep.out()).toContain(
      `ok    dist htpasswd: Secret container-registry-htpasswd (htpasswd) in ${dist} matches ${dir}/auth/htpasswd\n`,
    );

    await userAdd({ dir, name: 'bob', passwordStdin: false }, captureIo());
    const stale = captureIo();
    expect(await doctor({ dir, dist, json: false }, stale)).toBe(1);
    expect(stale.out()).toContain(
      `FAIL  dist htpasswd: Secret container-registry-htpasswd (htpasswd) in ${dist} differs from ${dir}/auth/htpasswd: the cluster gets other htpasswd than the material; ` +
        `fix: synthesize from this material and apply it: REGISTRY_MATERIAL_DIR=${dir} npx cdk8s synth --output ${dist} && kubectl apply -f ${dist}\n`,
    );
  });

  describe('node/certs.d', () => {
    it('fails when it is stale, and --fix-hosts-dir rewrites it from registries.yaml', async () => {
      const dir = template.copy();
      const hostsToml = 'node/certs.d/localhost:31113/hosts.toml';
      const rendered = read(dir, hostsToml);
      write(dir, hostsToml, 'server = "http://localhost:31113"\n');
      const stale = captureIo();
      expect(await main(['doctor', '--dir', dir, '--dist', noDist], stale)).toBe(1);
      expect(stale.out()).toContain(
        `FAIL  certs.d: ${dir}/node/certs.d does not match registries.yaml: stale hosts.toml for localhost:31113: ` +
          "containerd outside k3s (kind, nerdctl --hosts-dir) would not use the registry's endpoint and CA from registries.yaml; " +
          'fix: rewrite it from registries.yaml: private-registry doctor --fix-hosts-dir\n',
      );

      const fixed = captureIo();
      expect(await main(['doctor', '--fix-hosts-dir', '--dir', dir, '--dist', noDist], fixed)).toBe(0);
      expect(read(dir, hostsToml)).toBe(rendered);
      expect(fixed.err()).toBe(
        `rewrote ${dir}/node/certs.d from ${dir}/node/certs/registries.yaml (container-registry.local:5000, localhost:31113)\n` +
          `no ${noDist}/ directory: the synthesized manifests are not checked\nall 17 checks passed\n`,
      );
      expect(fixed.out()).toContain(
        `ok    certs.d: ${dir}/node/certs.d matches registries.yaml (container-registry.local:5000, localhost:31113)\n`,
      );
    });

    it('--fix-hosts-dir with a broken registries.yaml exits 2 and writes nothing', async () => {
      const dir = template.copy();
      write(dir, 'node/certs/registries.yaml', 'mirrors: [');
      const before = treeHashes(dir);
      const io = captureIo();
      expect(await main(['doctor', '--fix-hosts-dir', '--dir', dir, '--dist', noDist], io)).toBe(2);
      expect(io.err()).toMatch(new RegExp(`^error: ${dir}/node/certs/registries.yaml is not valid YAML`));
      expect(io.out()).toBe('');
      expect(treeHashes(dir)).toEqual(before);
    });
  });

  it('--live diagnoses a registry that is not there', async () => {
    const port = await freeLoopbackPort();
    const io = captureIo();
    expect(
      await main(
        ['doctor', '--live', '--url', `https://127.0.0.1:${port}`, '--dir', template.dir, '--dist', noDist],
        io,
      ),
    ).toBe(1);
    expect(io.out()).toContain(
      `FAIL  live registry: GET https://127.0.0.1:${port}/v2/: connection refused: nothing listens there; fix: start the cluster`,
    );
  });

  describe('bad usage exits 2', () => {
    it('--url without --live', async () => {
      const io = captureIo();
      expect(await main(['doctor', '--url', 'https://127.0.0.1:1', '--dir', template.dir], io)).toBe(2);
      expect(io.err()).toBe('error: --url needs --live\nsee: private-registry doctor --help\n');
    });

    it('an --url that is not https', async () => {
      const io = captureIo();
      expect(
        await main(['doctor', '--live', '--url', 'http://127.0.0.1:1', '--dir', template.dir, '--dist', noDist], io),
      ).toBe(2);
      expect(io.err()).toBe(
        'error: --url must be an https:// URL, got "http://127.0.0.1:1": write it like https://localhost:31113\n',
      );
      expect(io.out()).toBe('');
    });

    it('missing material', async () => {
      const dir = path.join(tempDir(), 'registry');
      const io = captureIo();
      expect(await main(['doctor', '--dir', dir], io)).toBe(2);
      expect(io.err()).toBe(
        `error: no material directory at ${dir}: create it with "private-registry init" (or npx cdk8s synth), or point --dir at it\n`,
      );
    });
  });

  describe('the k3s a cluster runs', () => {
    it('--k3s-version fails a version known to break the registry, with the fix', async () => {
      const noDist = path.join(tempDir(), 'dist');
      const broken = captureIo();
      expect(
        await main(['doctor', '--dir', template.dir, '--dist', noDist, '--k3s-version', 'v1.29.3+k3s1'], broken),
      ).toBe(1);
      expect(broken.out()).toContain(
        'FAIL  k3s version: k3s v1.29.3 writes hosts.toml without a [host] table, which containerd 1.7 rejects',
      );
      expect(broken.out()).toContain(
        'fix: recreate the cluster with a k3s from v1.29.4 on: private-registry k3d-config (pins rancher/k3s:',
      );
      const fine = captureIo();
      expect(
        await main(['doctor', '--dir', template.dir, '--dist', noDist, '--k3s-version', 'v1.32.5+k3s1'], fine),
      ).toBe(0);
      expect(fine.out()).toContain(
        'ok    k3s version: k3s v1.32.5+k3s1 is not a version known to break the registry\n',
      );
    });

    it('--k3d-config checks the image, the volume and k3d registries: settings', async () => {
      const noDist = path.join(tempDir(), 'dist');
      const ours = path.join(tempDir(), 'k3d.yaml');
      expect(await main(['k3d-config', '--dir', template.dir, '--out', ours], captureIo())).toBe(0);
      const fine = captureIo();
      expect(await main(['doctor', '--dir', template.dir, '--dist', noDist, '--k3d-config', ours], fine)).toBe(0);
      expect(fine.out()).toContain(
        `ok    k3d config: ${ours} mounts only the node directory, read-only, with a known-good k3s\n`,
      );
      const old = path.join(tempDir(), 'old-k3d.yaml');
      fs.writeFileSync(
        old,
        read(path.dirname(ours), 'k3d.yaml')
          .replace(/image: .*/, 'image: rancher/k3s:v1.27.12-k3s1')
          .replace('/node:/registry:ro', ':/registry')
          .concat('registries:\n  create:\n    name: registry.localhost\n'),
      );
      const bad = captureIo();
      expect(await main(['doctor', '--dir', template.dir, '--dist', noDist, '--k3d-config', old], bad)).toBe(1);
      const line = bad
        .out()
        .split('\n')
        .find((text) => text.startsWith('FAIL  k3d config'));
      expect(line).toContain("k3d's registries (create, use, config) are silently ignored");
      expect(line).toContain(
        'its image rancher/k3s:v1.27.12-k3s1: k3s v1.27.12 writes hosts.toml without a [host] table',
      );
      expect(line).toContain(`its volume ${template.dir}:/registry mounts ${template.dir} on every node`);
    });
  });
});
