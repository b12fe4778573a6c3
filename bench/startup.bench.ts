/**
 * What a synth and each CLI command cost, each against its floor, measured in the same run with A and B
 * alternated (see paired.ts); the README's Performance table comes from here.
 *   npm run bench            (BENCH_ROUNDS=N for more or fewer rounds; default 9)
 *   BENCH_ROWS=doctor,'app alone' npm run bench -- bench/startup.bench.ts   (only the rows whose name holds one of these)
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadManifests } from '../test/support/synth-app';
import { type PairedResult, type Timing, median, paired, table, timed } from './paired';

const REPO = join(__dirname, '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const ROWS = process.env.BENCH_ROWS?.split(',').map((part) => part.trim());
const work = mkdtempSync(join(tmpdir(), 'bench-startup-'));
const material = join(work, 'registry');
const cli = join(REPO, 'bin', 'private-registry.js');
const floorApp = join(work, 'floor', 'app.js');
const env = (materialDir: string): NodeJS.ProcessEnv => ({ ...process.env, REGISTRY_MATERIAL_DIR: materialDir });

afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The README's command, as a user runs it, into `outDir` (cdk8s-cli removes it first). */
const synth = (materialDir: string, outDir: string): Timing =>
  timed('npx', ['cdk8s', 'synth', '--output', outDir], { cwd: REPO, env: env(materialDir) });

/**
 * The floor of the synth rows: a prebuilt plain-JS cdk8s-plus-28 app that writes the very objects the
 * project's app writes (to the same files, with the same modes), with nothing else to do.
 */
function writeFloorApp(referenceDist: string): void {
  const registry = loadManifests(referenceDist);
  const example = loadManifests(join(referenceDist, 'example'));
  const resolve = (name: string): string => JSON.stringify(require.resolve(name, { paths: [REPO] }));
  mkdirSync(join(work, 'floor'));
  writeFileSync(
    floorApp,
    `const fs = require('node:fs');
const path = require('node:path');
const { App, ApiObject, Chart } = require(${resolve('cdk8s')});
// Loaded as an app using its constructs would load it; the objects are written as they are.
require(${resolve('cdk8s-plus-28')});
function chart(app, id, objects) {
  const scope = new Chart(app, id);
  objects.forEach((object, index) => new ApiObject(scope, String(index), object));
}
const app = new App();
chart(app, 'container-registry', ${JSON.stringify(registry)});
app.synth();
fs.chmodSync(path.join(app.outdir, 'container-registry.k8s.yaml'), 0o600);
const exampleApp = new App({ outdir: path.join(app.outdir, 'example') });
chart(exampleApp, 'hello-world-example', ${JSON.stringify(example)});
exampleApp.synth();
`,
  );
}

it('measures synth, the app and the CLI against their floors', { timeout: 1_800_000 }, async () => {
  const results: PairedResult[] = [];
  const load = loadavg().map((value) => value.toFixed(2));
  // The project's own synth creates the material (and compiles, if the sources changed since the last build).
  const reference = join(work, 'reference');
  synth(material, reference);
  writeFloorApp(reference);
  timed('node', [floorApp], { cwd: join(work, 'floor') });
  // The floor must emit exactly what the project emits, or it is not a floor.
  expect(loadManifests(join(work, 'floor', 'dist'))).toEqual(loadManifests(reference));
  expect(loadManifests(join(work, 'floor', 'dist', 'example'))).toEqual(loadManifests(join(reference, 'example')));

  /** One row, unless BENCH_ROWS leaves it out. */
  const row = async (options: Parameters<typeof paired>[0]): Promise<PairedResult | undefined> => {
    if (ROWS !== undefined && !ROWS.some((part) => options.name.includes(part))) return undefined;
    const result = await paired(options);
    results.push(result);
    return result;
  };
  const floorSynth = (): Timing =>
    timed('npx', ['cdk8s', 'synth', '--app', `node ${floorApp}`, '--output', join(work, 'out-floor')], { cwd: REPO });
  await row({
    name: '`npx cdk8s synth`, material present',
    floor: 'the same, prebuilt plain-JS app',
    rounds: ROUNDS,
    a: () => synth(material, join(work, 'out-a')),
    b: floorSynth,
  });
  const withoutUpgradeCheck = (app: string[], outDir: string, materialDir = material) =>
    timed('npx', ['cdk8s', 'synth', '--no-check-upgrade', ...app, '--output', outDir], {
      cwd: REPO,
      env: env(materialDir),
    });
  await row({
    name: '`npx cdk8s synth --no-check-upgrade`',
    floor: 'the same, prebuilt plain-JS app',
    rounds: ROUNDS,
    a: () => withoutUpgradeCheck([], join(work, 'out-a')),
    b: () => withoutUpgradeCheck(['--app', `node ${floorApp}`], join(work, 'out-floor')),
  });
  mkdirSync(join(work, 'app-a'));
  await row({
    name: 'the app alone, `node build/charts/main.js`',
    floor: 'a bare cdk8s-plus-28 app, same objects',
    rounds: ROUNDS,
    a: () =>
      timed('node', [join(REPO, 'build', 'charts', 'main.js')], { cwd: join(work, 'app-a'), env: env(material) }),
    b: () => timed('node', [floorApp], { cwd: join(work, 'floor') }),
  });
  const fresh = join(work, 'fresh');
  const first = await row({
    name: 'first `npx cdk8s synth` (creates the material)',
    floor: 'steady `npx cdk8s synth`',
    rounds: ROUNDS,
    beforeA: () => rmSync(fresh, { recursive: true, force: true }),
    a: () => synth(fresh, join(work, 'out-fresh')),
    b: () => synth(material, join(work, 'out-a')),
  });

  // Every command that does not create keys, against node doing nothing.
  const nothing = (): Timing => timed('node', ['-e', '']);
  const users = join(work, 'users');
  cpSync(material, users, { recursive: true });
  let added = 0;
  let removed = 0;
  const password = readFileSync(join(material, 'auth', 'password'), 'utf8');
  const commands: [string, () => Timing][] = [
    ['--help', () => timed('node', [cli, '--help'])],
    ['user list', () => timed('node', [cli, 'user', 'list', '--dir', material])],
    [
      'user verify',
      () =>
        timed('node', [cli, 'user', 'verify', 'registry', '--password-stdin', '--dir', material], { input: password }),
    ],
    ['user add', () => timed('node', [cli, 'user', 'add', `bench-${added++}`, '--dir', users])],
    ['user remove', () => timed('node', [cli, 'user', 'remove', `bench-${removed++}`, '--dir', users])],
    ['certs show', () => timed('node', [cli, 'certs', 'show', '--dir', material])],
    ['doctor', () => timed('node', [cli, 'doctor', '--dir', material, '--dist', reference])],
    ['k3d-config', () => timed('node', [cli, 'k3d-config', '--dir', material])],
    ['trust', () => timed('node', [cli, 'trust', '--dir', material])],
  ];
  for (const [command, run] of commands) {
    await row({ name: `\`private-registry ${command}\``, floor: '`node -e ""`', rounds: ROUNDS, a: run, b: nothing });
  }

  const extra = first === undefined ? [] : first.a.map((value, index) => value - first.b[index]);
  const report = [
    '',
    table(results),
    '',
    ...(first === undefined
      ? []
      : [
          `first synth over the steady synth: median ${Math.round(median(extra) * 1000)} ms, range ${Math.round(Math.min(...extra) * 1000)}–${Math.round(Math.max(...extra) * 1000)} ms`,
        ]),
    `${ROUNDS} rounds per row; load average at the start ${load.join(' ')}, at the end ${loadavg()
      .map((value) => value.toFixed(2))
      .join(' ')}; Node ${process.version}; ${spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()} cores`,
    '',
  ].join('\n');
  process.stdout.write(report);
});
