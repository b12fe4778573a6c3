import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { materialAddressesOf, readMaterial } from '../../lib/material';
import { run } from '../support/run';
import { REPO_ROOT } from '../support/synth-app';
import { CDK8S, TYPESCRIPT, createConsumerApp, runnerEnv, tsc } from './consumer-app';

/** Every ```ts block of the README, read at test time so the README cannot drift from what is tested. */
function readmeExamples(): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((match) => match[1]);
}

const EXAMPLES = readmeExamples();
const SNAPSHOT_TESTS = EXAMPLES.filter((source) => source.includes('toMatchSnapshot'));
const PROGRAMS = EXAMPLES.filter((source) => !SNAPSHOT_TESTS.includes(source));
const PIECES = PROGRAMS.find((source) => source.includes('new RegistryServer('));

/** The material directory an example reads (`readMaterial('x')` or `loadOrCreateMaterial('x', ...)`). */
function materialDirOf(source: string): string | undefined {
  return /(?:readMaterial|loadOrCreateMaterial)\('([^']+)'/.exec(source)?.[1];
}

/** The namespace of the example's own chart, which its material's certificate must name. */
function namespaceOf(source: string): string | undefined {
  return /namespace: '([^']+)'/.exec(source)?.[1];
}

const app = join(tmpdir(), 'app-readme');
const bin = (name: string) => join(app, 'node_modules', '.bin', name);

/** Material as a user makes it: the installed CLI for the defaults, the installed library for other options. */
async function makeMaterial(dir: string, options: { namespace?: string; nodePort?: number } = {}): Promise<void> {
  if (Object.keys(options).length === 0) {
    const init = await run(bin('private-registry'), ['init', '--dir', dir], { cwd: app });
    expect(init.code, init.stderr).toBe(0);
    return;
  }
  const script = `
    const { generateMaterial, writeNewMaterial } = require('cdk8s-private-registry');
    writeNewMaterial(${JSON.stringify(dir)}, generateMaterial(${JSON.stringify(options)}));
  `;
  const made = await run(process.execPath, ['-e', script], { cwd: app });
  expect(made.code, made.stderr).toBe(0);
}

interface ProgramRun {
  readonly code: number | null;
  readonly stderr: string;
  readonly dist: string;
  readonly objects: any[];
}

/** Runs the compiled example N in a working directory of its own, with its material prepared there. */
async function runProgram(index: number, name: string, material?: { namespace?: string; nodePort?: number }) {
  const cwd = join(app, 'runs', name);
  mkdirSync(cwd, { recursive: true });
  const materialDir = materialDirOf(PROGRAMS[index]);
  if (material && materialDir) await makeMaterial(join(cwd, materialDir), material);
  const ran = await run(process.execPath, [join(app, `example-${index}.js`)], { cwd });
  const dist = join(cwd, 'dist');
  const objects = existsSync(dist)
    ? readdirSync(dist)
        .filter((file) => file.endsWith('.k8s.yaml'))
        .flatMap((file) => yaml.loadAll(readFileSync(join(dist, file), 'utf8')) as any[])
    : [];
  return { code: ran.code, stderr: ran.stderr, dist, objects, cwd, materialDir } as ProgramRun & {
    cwd: string;
    materialDir?: string;
  };
}

/** What every example must produce: manifests that agree with the material the nodes read. */
function expectAgreementWithMaterial(result: Awaited<ReturnType<typeof runProgram>>): void {
  expect(result.code, result.stderr).toBe(0);
  const material = readMaterial(join(result.cwd, result.materialDir ?? 'registry'));
  const addresses = materialAddressesOf(material.registries);
  const service = result.objects.find((o) => o.kind === 'Service');
  expect(service.spec.ports[0].nodePort).toBe(addresses.nodePort);
  expect(service.spec.ports[0].port).toBe(addresses.registryPort);
  expect(result.objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Deployment', 'Secret', 'DaemonSet']));
}

describe('the README examples, in a consumer app', () => {
  beforeAll(async () => {
    await createConsumerApp({
      dir: app,
      tarball: process.env.CONSUMER_TARBALL ?? '',
      module: 'commonjs',
      typescript: TYPESCRIPT['5.9'],
      cdk8s: CDK8S.lowest,
      devDependencies: { jest: '^30.0.0', 'ts-jest': '^29.4.0', '@types/jest': '^30.0.0', vitest: '^4.1.12' },
      include: ['example-*.ts'],
    });
    for (const [index, source] of PROGRAMS.entries()) writeFileSync(join(app, `example-${index}.ts`), source);
  });

  it('has the examples this suite knows how to run: programs, the pieces and one snapshot test', () => {
    expect(PROGRAMS.length).toBeGreaterThanOrEqual(2);
    expect(PIECES).toBeDefined();
    expect(SNAPSHOT_TESTS).toHaveLength(1);
  });

  it('compiles every program with tsc --strict and no skipLibCheck', async () => {
    const compiled = await tsc(app);
    expect(compiled.stdout + compiled.stderr).toBe('');
    expect(compiled.code).toBe(0);
  });

  it('runs every program: manifests that agree with the material they were made from', async () => {
    for (const [index, source] of PROGRAMS.entries()) {
      const namespace = namespaceOf(source);
      // loadOrCreateMaterial makes its own on the first run; readMaterial needs it made beforehand.
      const material = source.includes('readMaterial(') ? (namespace ? { namespace } : {}) : undefined;
      const result = await runProgram(index, `program-${index}`, material);
      expectAgreementWithMaterial(result);
      const nodePort = /nodePort: (\d+)/.exec(source)?.[1];
      if (nodePort)
        expect(result.objects.find((o) => o.kind === 'Service').spec.ports[0].nodePort).toBe(Number(nodePort));
      if (namespace) {
        const namespaced = result.objects.filter((o) => o.kind === 'Deployment' || o.kind === 'Service');
        expect(namespaced.map((o) => o.metadata.namespace)).toEqual([namespace, namespace]);
      }
    }
  });

  describe('the snapshot test', () => {
    const source = SNAPSHOT_TESTS[0] ?? '';
    const snapshotFiles = (runner: string) => join(app, runner, '__snapshots__', 'registry.test.ts.snap');

    beforeAll(async () => {
      const materialDir = materialDirOf(source);
      expect(materialDir).toBeDefined();
      await makeMaterial(join(app, materialDir ?? ''));
      const base = { extends: './tsconfig.json', compilerOptions: { noEmit: true } };
      for (const runner of ['jest', 'vitest']) {
        mkdirSync(join(app, runner), { recursive: true });
        writeFileSync(join(app, runner, 'registry.test.ts'), source);
        // vitest's own declarations need a module resolution that reads package exports (not CommonJS's node10).
        const compilerOptions =
          runner === 'jest'
            ? { ...base.compilerOptions, types: ['node', 'jest'] }
            : { ...base.compilerOptions, types: ['node', 'vitest/globals'], module: 'nodenext' };
        const tsconfig = { ...base, compilerOptions, include: [`${runner}/**/*.ts`] };
        writeFileSync(join(app, `tsconfig.${runner}.json`), JSON.stringify(tsconfig));
      }
      writeFileSync(
        join(app, 'jest.config.js'),
        `module.exports = { testEnvironment: 'node', roots: ['<rootDir>/jest'],
          transform: { '^.+\\\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.jest.json' }] } };\n`,
      );
      writeFileSync(
        join(app, 'vitest.config.mjs'),
        `export default { test: { globals: true, include: ['vitest/**/*.test.ts'] } };\n`,
      );
    });

    it.each(['jest', 'vitest'])('type-checks as it is shown, with %s globals', async (runner) => {
      const checked = await run(
        process.execPath,
        [join(app, 'node_modules/typescript/bin/tsc'), '-p', `tsconfig.${runner}.json`],
        {
          cwd: app,
        },
      );
      expect(checked.stdout + checked.stderr).toBe('');
      expect(checked.code).toBe(0);
    });

    it('passes under jest (ts-jest): writes its snapshot, then matches it with --ci', async () => {
      // As on a developer's machine, where the snapshot is written and committed; then as in CI.
      const first = await run(bin('jest'), ['--ci=false'], { cwd: app, env: runnerEnv(), timeoutMs: 300_000 });
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect(first.stderr).toMatch(/1 snapshot written/);
      expect(readFileSync(snapshotFiles('jest'), 'utf8')).toContain('"nodePort": 31113');
      const second = await run(bin('jest'), ['--ci'], { cwd: app, env: runnerEnv(), timeoutMs: 300_000 });
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(second.stderr).toMatch(/Snapshots:\s+1 passed, 1 total/);
    });

    it('passes under vitest: writes its snapshot, then matches it with CI=true', async () => {
      const env = runnerEnv();
      const first = await run(bin('vitest'), ['run'], { cwd: app, env, timeoutMs: 300_000 });
      expect(first.code, first.stdout + first.stderr).toBe(0);
      expect(first.stdout).toMatch(/1 written/);
      expect(readFileSync(snapshotFiles('vitest'), 'utf8')).toContain('"nodePort": 31113');
      const second = await run(bin('vitest'), ['run'], { cwd: app, env: { ...env, CI: 'true' }, timeoutMs: 300_000 });
      expect(second.code, second.stdout + second.stderr).toBe(0);
      expect(second.stdout).toMatch(/1 passed/);
    });
  });

  /** Issue 7's items 4 to 6, as a consumer meets them: the README's pieces given material that contradicts them. */
  describe('what the pieces and the package root promise', () => {
    it('the pieces example refuses material whose certificate names another namespace', async () => {
      const index = PROGRAMS.indexOf(PIECES ?? '');
      const result = await runProgram(index, 'pieces-foreign-namespace', { namespace: 'container-registry' });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(new RegExp(`${namespaceOf(PIECES ?? '')}\\.svc`));
      expect(result.objects).toEqual([]);
    });

    it('the pieces example follows a material node port that is not the default', async () => {
      const index = PROGRAMS.indexOf(PIECES ?? '');
      const namespace = namespaceOf(PIECES ?? '');
      const result = await runProgram(index, 'pieces-node-port', { namespace, nodePort: 30500 });
      expectAgreementWithMaterial(result);
      expect(result.objects.find((o) => o.kind === 'Service').spec.ports[0].nodePort).toBe(30500);
    });

    it('every example writes the manifests holding keys and passwords with mode 0600', () => {
      const runs = join(app, 'runs');
      let secretFiles = 0;
      for (const name of readdirSync(runs).filter((dir) => dir.startsWith('program-'))) {
        for (const file of readdirSync(join(runs, name, 'dist')).filter((f) => f.endsWith('.k8s.yaml'))) {
          const path = join(runs, name, 'dist', file);
          if (!/^kind: Secret$/m.test(readFileSync(path, 'utf8'))) continue;
          expect((statSync(path).mode & 0o777).toString(8), path).toBe('600');
          secretFiles += 1;
        }
      }
      expect(secretFiles).toBeGreaterThanOrEqual(PROGRAMS.length);
    });

    it('the package root exports no CLI internals', async () => {
      const script = `process.stdout.write(JSON.stringify(Object.keys(require('cdk8s-private-registry'))))`;
      const listed = await run(process.execPath, ['-e', script], { cwd: app });
      expect(listed.code, listed.stderr).toBe(0);
      const exported = JSON.parse(listed.stdout) as string[];
      expect(exported).toEqual(expect.arrayContaining(['RegistryChart', 'RegistryServer', 'readMaterial']));
      for (const internal of ['shellQuote', 'tomlString', 'writeFileAtomic', 'applyCommand']) {
        expect(exported).not.toContain(internal);
      }
    });
  });
});
