import {
  cpSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateMaterial, writeNewMaterial } from '../lib';
import { run } from './support/run';
import { REPO_ROOT, loadManifests } from './support/synth-app';

/**
 * cdk8s.yaml runs charts/run.js, which compiles only when the sources changed. These prove it never runs
 * stale output: in a copy of the project (its build copied too, up to date, as the global setup left it),
 * sources are edited, touched, restored with an old mtime and deleted, and each synth shows exactly the sources.
 * The copy's node_modules is a link to the project's, and tsc names each file it reads by its real path: the
 * copy's first compile finds node_modules under other names than its build info holds and compiles everything
 * (about 1 s of CPU with TypeScript 7, 8.5 s with 5.9); the compile after it is incremental.
 */
describe('synth compiles exactly when the sources changed (charts/run.js)', () => {
  let copy: string;
  let stampAfterEdit: string;
  const file = (relativePath: string): string => join(copy, relativePath);
  const appMtime = (): number => statSync(file('build/charts/main.js')).mtimeMs;
  const env = () => ({ ...process.env, REGISTRY_MATERIAL_DIR: file('registry') });
  /** The real `cdk8s synth`, through cdk8s.yaml. */
  const cdk8sSynth = (outDir: string) =>
    run(join(REPO_ROOT, 'node_modules', '.bin', 'cdk8s'), ['synth', '--no-check-upgrade', '--output', outDir], {
      cwd: copy,
      env: env(),
    });
  /** What cdk8s synth runs (cdk8s.yaml's app), without cdk8s-cli's own second of start-up. */
  const synth = (outDir: string) =>
    run('node', ['charts/run.js'], { cwd: copy, env: { ...env(), CDK8S_OUTDIR: outDir } });
  const edit = (relativePath: string, from: string, to: string): void => {
    const content = readFileSync(file(relativePath), 'utf8');
    expect(content).toContain(from);
    writeFileSync(file(relativePath), content.replace(from, to));
  };

  beforeAll(() => {
    copy = mkdtempSync(join(tmpdir(), 'staleness-'));
    for (const entry of [
      'lib',
      'charts',
      'cli',
      'bin',
      'build',
      'tsconfig.json',
      'package.json',
      'package-lock.json',
      'cdk8s.yaml',
    ])
      cpSync(join(REPO_ROOT, entry), file(entry), { recursive: true, preserveTimestamps: true });
    symlinkSync(join(REPO_ROOT, 'node_modules'), file('node_modules'));
    writeNewMaterial(file('registry'), generateMaterial());
  });
  afterAll(() => rmSync(copy, { recursive: true, force: true }));

  it('runs the existing build when nothing changed, and again after a touch that changes no byte', async () => {
    // The global setup left the build up to date with these very sources.
    const before = appMtime();
    // The other synths here run cdk8s.yaml's app directly: it must be this launcher.
    expect(readFileSync(file('cdk8s.yaml'), 'utf8')).toMatch(/^app: node charts\/run\.js$/m);
    const first = await cdk8sSynth(file('dist-1'));
    expect(first.code, first.stderr).toBe(0);
    expect(loadManifests(file('dist-1')).find((object) => object.kind === 'Deployment')).toBeDefined();
    const future = new Date(Date.now() + 60_000);
    utimesSync(file('lib/defaults.ts'), future, future);
    utimesSync(file('charts/main.ts'), future, future);
    const touched = await synth(file('dist-2'));
    expect(touched.code, touched.stderr).toBe(0);
    expect(appMtime()).toBe(before);
    expect(readFileSync(file('dist-2/container-registry.k8s.yaml'), 'utf8')).toBe(
      readFileSync(file('dist-1/container-registry.k8s.yaml'), 'utf8'),
    );
  });

  it('picks up an edit in charts/ and one in lib/, even one restored with an mtime older than the build', async () => {
    edit('charts/example-chart.ts', "restartPolicy: 'Never'", "restartPolicy: 'OnFailure'");
    edit('lib/defaults.ts', "'registry:3.1.1'", "'registry:3.1.2'");
    const past = new Date('2001-01-01T00:00:00Z');
    utimesSync(file('lib/defaults.ts'), past, past);
    const result = await synth(file('dist-3'));
    expect(result.code, result.stderr).toBe(0);
    const deployment = loadManifests(file('dist-3')).find((object) => object.kind === 'Deployment');
    expect(deployment.spec.template.spec.containers[0].image).toBe('registry:3.1.2');
    expect(loadManifests(file('dist-3/example'))[0].spec.restartPolicy).toBe('OnFailure');
    stampAfterEdit = readFileSync(file('build/.sources.sha256'), 'utf8');
  });

  it('fails, writing no manifests, when a source the app imports is deleted: the old build never runs', async () => {
    rmSync(file('charts/example-chart.ts'));
    expect(existsSync(file('build/charts/example-chart.js'))).toBe(true);
    const result = await synth(file('dist-4'));
    expect(result.code).not.toBe(0);
    expect(`${result.stdout}${result.stderr}`).toContain("Cannot find module './example-chart'");
    expect(existsSync(file('dist-4/container-registry.k8s.yaml'))).toBe(false);
    // A failed build records nothing: the hash of the last good build stays, so the next synth compiles again.
    expect(readFileSync(file('build/.sources.sha256'), 'utf8')).toBe(stampAfterEdit);
  });
});
