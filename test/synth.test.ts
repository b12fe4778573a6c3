import { createHash } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MATERIAL_FILES, generateMaterial, writeNewMaterial } from '../lib';
import { podSecurityViolations, podSpecOf } from './support/pod-security';
import { type RunResult, run } from './support/run';
import { REPO_ROOT, type SynthesizedApp, loadManifests, synthApp } from './support/synth-app';

/** Every file under `dir` with its SHA-256, mode and mtime: what "changes nothing" must keep. */
function fingerprint(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = join(entry.parentPath, entry.name);
    const stat = statSync(file);
    files[file.slice(dir.length + 1)] =
      `${createHash('sha256').update(readFileSync(file)).digest('hex')} ${(stat.mode & 0o777).toString(8)} ${stat.mtimeMs}`;
  }
  return files;
}

/**
 * The compiled app alone, the process `cdk8s synth` starts (it names the output in CDK8S_OUTDIR), for a claim
 * about what the app makes of the material rather than about the synth command: cdk8s-cli's own start-up
 * (~1 s of CPU) is left out. The claims about the command itself run the real `cdk8s synth` (synthApp); that
 * it passes the app's error on is proven in bad-input.real.test.ts.
 */
function appProcess(materialDir: string, outDir: string): Promise<RunResult> {
  return run(process.execPath, [join(REPO_ROOT, 'build', 'charts', 'main.js')], {
    cwd: REPO_ROOT,
    env: { ...process.env, REGISTRY_MATERIAL_DIR: materialDir, CDK8S_OUTDIR: outDir },
  });
}

async function runApp(materialDir: string, outDir: string): Promise<SynthesizedApp> {
  const result = await appProcess(materialDir, outDir);
  expect(result.code, result.stderr).toBe(0);
  return {
    manifests: loadManifests(outDir),
    exampleManifests: loadManifests(join(outDir, 'example')),
    stderr: result.stderr,
  };
}

const contentOnly = (files: Record<string, string>) =>
  Object.fromEntries(Object.entries(files).map(([file, print]) => [file, print.split(' ')[0]]));

describe('the synth app (cdk8s synth)', () => {
  let work: string;
  let first: SynthesizedApp;
  let firstMaterial: Record<string, string>;
  let firstDist: Record<string, string>;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'synth-'));
    first = await synthApp(join(work, 'registry'), join(work, 'dist'));
    firstMaterial = fingerprint(join(work, 'registry'));
    firstDist = fingerprint(join(work, 'dist'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('creates the material directory on the first run', () => {
    expect(Object.keys(firstMaterial).sort()).toEqual(
      [
        ...Object.values(MATERIAL_FILES),
        'node/certs.d/container-registry.local:5000/hosts.toml',
        'node/certs.d/localhost:31113/hosts.toml',
      ].sort(),
    );
    expect(first.stderr).toContain('created');
  });

  it('writes the registry objects to dist/ with the Namespaces first', () => {
    expect(first.manifests.map((object) => `${object.kind}/${object.metadata.name}`)).toEqual([
      'Namespace/container-registry',
      'Namespace/container-registry-node-hosts',
      'Secret/container-registry-htpasswd',
      'Secret/container-registry-tls',
      'Secret/container-registry-http',
      'PersistentVolumeClaim/container-registry',
      'Deployment/container-registry',
      'Service/container-registry',
      'ConfigMap/container-registry-node-hosts',
      'DaemonSet/container-registry-node-hosts',
      'ServiceAccount/container-registry-gc',
      'Role/container-registry-gc',
      'RoleBinding/container-registry-gc',
      'CronJob/container-registry-gc',
      'ConfigMap/local-registry-hosting',
    ]);
  });

  it('every pod spec synth writes meets the Pod Security level its Namespace enforces; the example pod restricted', () => {
    const levels = new Map(
      first.manifests
        .filter((object) => object.kind === 'Namespace')
        .map((object) => [object.metadata.name, object.metadata.labels['pod-security.kubernetes.io/enforce']]),
    );
    const checked = first.manifests.filter((object) => podSpecOf(object) !== undefined);
    expect(
      checked.map((object) => `${object.kind}/${object.metadata.namespace}: ${levels.get(object.metadata.namespace)}`),
    ).toEqual([
      'Deployment/container-registry: restricted',
      'DaemonSet/container-registry-node-hosts: privileged',
      'CronJob/container-registry: restricted',
    ]);
    for (const object of checked)
      expect(podSecurityViolations(podSpecOf(object)!, levels.get(object.metadata.namespace))).toEqual([]);
    // The example pod goes to the default Namespace, whose level is the cluster's: it meets the strictest.
    expect(podSecurityViolations(podSpecOf(first.exampleManifests[0])!, 'restricted')).toEqual([]);
  });

  it('writes the manifests, which hold the TLS key and the htpasswd, as 0600 in a 0700 dist/ (PrivateApp)', () => {
    expect(statSync(join(work, 'dist', 'container-registry.k8s.yaml')).mode & 0o777).toBe(0o600);
    expect(statSync(join(work, 'dist')).mode & 0o777).toBe(0o700);
    // The example holds no secret: a plain App writes it with the user's umask, for the owner to apply.
    expect(statSync(join(work, 'dist', 'example', 'hello-world-example.k8s.yaml')).mode & 0o600).toBe(0o600);
  });

  it('keeps the example pod out of `kubectl apply -f dist` (a sub-directory), pulling the pushed name', () => {
    expect(readdirSync(join(work, 'dist')).sort()).toEqual(['container-registry.k8s.yaml', 'example']);
    expect(first.exampleManifests).toHaveLength(1);
    const pod = first.exampleManifests[0];
    expect(pod.kind).toBe('Pod');
    expect(pod.spec.containers[0].image).toBe('localhost:31113/hello-world-example:latest');
    expect(pod.spec.restartPolicy).toBe('Never');
  });

  it('a second synth changes nothing: byte-identical dist/, material untouched (content, mode, mtime)', async () => {
    const second = await synthApp(join(work, 'registry'), join(work, 'dist-again'));
    expect(second.stderr).not.toContain('created');
    expect(fingerprint(join(work, 'registry'))).toEqual(firstMaterial);
    expect(contentOnly(fingerprint(join(work, 'dist-again')))).toEqual(contentOnly(firstDist));
  });

  it('follows the names and ports of the material (e.g. made by `private-registry init --node-port 30500`)', async () => {
    const custom = join(work, 'custom');
    writeNewMaterial(custom, generateMaterial({ hostname: 'images.local', nodePort: 30500 }));
    const app = await runApp(custom, join(work, 'dist-custom'));
    const service = app.manifests.find((object) => object.kind === 'Service');
    expect(service.spec.ports[0].nodePort).toBe(30500);
    const env = app.manifests.find((object) => object.kind === 'DaemonSet').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'REGISTRY_HOSTNAME', value: 'images.local' });
    expect(app.exampleManifests[0].spec.containers[0].image).toBe('localhost:30500/hello-world-example:latest');
  });

  it('fails with the file name and the fix when the material is damaged, writing nothing', async () => {
    const damaged = join(work, 'damaged');
    cpSync(join(work, 'registry'), damaged, { recursive: true });
    writeFileSync(join(damaged, MATERIAL_FILES.tlsKey), 'not a key');
    const before = fingerprint(damaged);
    const failed = await appProcess(damaged, join(work, 'dist-damaged'));
    expect(failed.code).not.toBe(0);
    expect(failed.stdout + failed.stderr).toContain(`${damaged}/certs/tls.key is not a PEM RSA private key`);
    expect(fingerprint(damaged)).toEqual(before);
  });
});
