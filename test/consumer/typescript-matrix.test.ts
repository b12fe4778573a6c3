import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../support/run';
import {
  CDK8S,
  type ConsumerAppOptions,
  type ModuleKind,
  TYPESCRIPT,
  createConsumerApp,
  installedCopies,
  installedVersion,
  npm,
  tsc,
} from './consumer-app';

/**
 * A consumer's own code: the chart inside the consumer's cdk8s App, its material made by the library, and a
 * function of the consumer's typed with cdk8s's `Chart` (the "two copies of cdk8s" failure was a
 * RegistryChart that was not a `Chart` of the consumer's cdk8s).
 */
const CONSUMER_SOURCE = `
import { App, Chart, Testing } from 'cdk8s';
import { RegistryChart, type RegistryMaterial, generateMaterial } from 'cdk8s-private-registry';

function objectsOf(chart: Chart): any[] {
  return Testing.synth(chart);
}

const material: RegistryMaterial = generateMaterial({ nodePort: 30500 });
const chart: Chart = new RegistryChart(new App({ outdir: 'dist' }), 'registry', { material });
const objects = objectsOf(chart);
const service = objects.find((o) => o.kind === 'Service');
process.stdout.write(JSON.stringify({ kinds: objects.map((o) => o.kind), nodePort: service.spec.ports[0].nodePort }));
`;

/**
 * Every value of each axis, and every pair of two axes' values, in four apps instead of eight: the module
 * system, the TypeScript version and the cdk8s version each change between two apps that share the others.
 */
const APPS: ReadonlyArray<{ module: ModuleKind; typescript: keyof typeof TYPESCRIPT; cdk8s: keyof typeof CDK8S }> = [
  { module: 'commonjs', typescript: '5.9', cdk8s: 'lowest' },
  { module: 'commonjs', typescript: 'current', cdk8s: 'highest' },
  { module: 'esm', typescript: '5.9', cdk8s: 'highest' },
  { module: 'esm', typescript: 'current', cdk8s: 'lowest' },
];

describe.each(APPS)('a $module app with TypeScript $typescript and cdk8s at its $cdk8s', (axes) => {
  const options: ConsumerAppOptions = {
    dir: join(tmpdir(), `app-${axes.module}-ts${axes.typescript}-${axes.cdk8s}`),
    tarball: process.env.CONSUMER_TARBALL ?? '',
    module: axes.module,
    typescript: TYPESCRIPT[axes.typescript],
    cdk8s: CDK8S[axes.cdk8s],
  };
  let installOutput = '';

  it('installs the tarball without building anything, with one copy of cdk8s and of constructs', async () => {
    expect(options.tarball).toMatch(/\.tgz$/);
    const install = await createConsumerApp(options);
    installOutput = install.stdout + install.stderr;
    expect(await installedCopies(options.dir, 'cdk8s')).toEqual(['node_modules/cdk8s']);
    expect(await installedCopies(options.dir, 'constructs')).toEqual(['node_modules/constructs']);
    const pkg = JSON.parse(readFileSync(join(options.dir, 'node_modules/cdk8s-private-registry/package.json'), 'utf8'));
    for (const script of ['preinstall', 'install', 'postinstall', 'prepare'])
      expect(pkg.scripts?.[script]).toBeUndefined();
    expect(installOutput).not.toMatch(/EBADENGINE|install script|prepare/i);
  });

  it('gets the versions of its axes', async () => {
    const expectedTypescript = axes.typescript === '5.9' ? '5.9.3' : /^7\./;
    expect(installedVersion(options.dir, 'typescript')).toMatch(expectedTypescript);
    if (axes.cdk8s === 'lowest') {
      expect(installedVersion(options.dir, 'cdk8s')).toBe(CDK8S.lowest.cdk8s);
      expect(installedVersion(options.dir, 'constructs')).toBe(CDK8S.lowest.constructs);
    } else {
      const known = await npm(['view', `cdk8s@${CDK8S.highest.cdk8s}`, 'version', '--json'], options.dir, 60_000);
      const versions = ([JSON.parse(known.stdout)].flat() as string[]).filter((v) => !v.includes('-'));
      const byNumber = (v: string) => v.split('.').map(Number);
      const ascending = versions.sort((a, b) => {
        const [x, y] = [byNumber(a), byNumber(b)];
        return x[0] - y[0] || x[1] - y[1] || x[2] - y[2];
      });
      expect(installedVersion(options.dir, 'cdk8s')).toBe(ascending.at(-1));
    }
  });

  it('compiles with tsc --strict, no skipLibCheck, and synthesizes', async () => {
    writeFileSync(join(options.dir, 'consumer.ts'), CONSUMER_SOURCE);
    const compiled = await tsc(options.dir);
    expect(compiled.stdout + compiled.stderr).toBe('');
    expect(compiled.code).toBe(0);
    const tsconfig = JSON.parse(readFileSync(join(options.dir, 'tsconfig.json'), 'utf8'));
    expect(tsconfig.compilerOptions).toMatchObject({ strict: true });
    expect(tsconfig.compilerOptions.skipLibCheck).toBeUndefined();
    const ran = await run(process.execPath, ['consumer.js'], { cwd: options.dir });
    expect(ran.code, ran.stderr).toBe(0);
    const { kinds, nodePort } = JSON.parse(ran.stdout);
    expect(kinds[0]).toBe('Namespace');
    expect(kinds).toEqual(expect.arrayContaining(['Deployment', 'Service', 'DaemonSet', 'Secret']));
    expect(nodePort).toBe(30500);
  });
});
