import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FIXTURE_MATERIAL_DIR } from './support/fixture-material';
import { describeReal } from './support/real-software';
import { run } from './support/run';
import { REPO_ROOT } from './support/synth-app';

/** A file or directory the synth created, with the mode it had at that moment (its mode argument less the umask). */
interface Creation {
  readonly path: string;
  readonly kind: 'file' | 'directory';
  readonly mode: number;
}

interface TracedSynth {
  readonly creations: Creation[];
  /** Every traced call under the work directory, in order, as strace printed it. */
  readonly calls: string[];
  /** What the child printed: the umask after synth. */
  readonly stdout: string;
}

/**
 * Runs `appClass` (PrivateApp or cdk8s's App) with a RegistryChart from the fixture material, in a child
 * Node under `strace -f`, with umask 022 like a usual login. Each openat(O_CREAT) and mkdir under `work`
 * is paired with the umask in force at that call, which is the mode the file or directory had when it
 * came into being: what another user could have opened in the window before any later chmod.
 */
async function tracedSynth(work: string, outdir: string, appClass: 'PrivateApp' | 'App'): Promise<TracedSynth> {
  const script = `
    const { App } = require('cdk8s');
    const lib = require(${JSON.stringify(join(REPO_ROOT, 'build', 'lib', 'index.js'))});
    const AppClass = ${appClass === 'App' ? 'App' : 'lib.PrivateApp'};
    const app = new AppClass({ outdir: ${JSON.stringify(outdir)} });
    new lib.RegistryChart(app, 'container-registry', { material: lib.readMaterial(${JSON.stringify(FIXTURE_MATERIAL_DIR)}) });
    app.synth();
    process.stdout.write(process.umask().toString(8));
  `;
  const traceFile = join(work, `trace-${appClass}.txt`);
  const result = await run(
    'sh',
    [
      '-c',
      // --seccomp-bpf: the child stops only at the traced calls, not at each of Node's thousands of others.
      'umask 022 && exec strace -f --seccomp-bpf -qq -o "$0" ' +
        '-e trace=umask,openat,mkdir,mkdirat,chmod,fchmodat "$1" -e "$2"',
      traceFile,
      process.execPath,
      script,
    ],
    { cwd: REPO_ROOT },
  );
  expect(result.code, result.stderr).toBe(0);

  let umask = 0o022;
  const creations: Creation[] = [];
  const calls: string[] = [];
  for (const line of readFileSync(traceFile, 'utf8').split('\n')) {
    const setUmask = /\bumask\((0[0-7]*)\)/.exec(line);
    if (setUmask !== null) umask = Number.parseInt(setUmask[1], 8);
    if (!line.includes(work)) continue;
    calls.push(line);
    const opened = /\bopenat\([^,]+, "([^"]+)", ([A-Z_|]+), (0[0-7]*)/.exec(line);
    if (opened?.[2].includes('O_CREAT') && !/= -1 /.test(line)) {
      creations.push({ path: opened[1], kind: 'file', mode: Number.parseInt(opened[3], 8) & ~umask });
    }
    const made = /\bmkdir(?:at)?\((?:[^,]+, )?"([^"]+)", (0[0-7]*)\) = 0/.exec(line);
    if (made !== null) creations.push({ path: made[1], kind: 'directory', mode: Number.parseInt(made[2], 8) & ~umask });
  }
  return { creations, calls, stdout: result.stdout };
}

const octal = (mode: number) => `0${mode.toString(8)}`;

describeReal(
  'PrivateApp: manifests private from the first byte',
  ['strace'],
  () => {
    let work: string;
    beforeAll(() => {
      work = mkdtempSync(join(tmpdir(), 'private-app-'));
    });
    afterAll(() => rmSync(work, { recursive: true, force: true }));

    it('creates every directory 0700 and every file 0600: never readable by another user, not for a moment', async () => {
      const outdir = join(work, 'out', 'dist');
      const traced = await tracedSynth(work, outdir, 'PrivateApp');
      const files = traced.creations.filter((creation) => creation.kind === 'file');
      expect(files.map((file) => file.path)).toEqual([join(outdir, 'container-registry.k8s.yaml')]);
      expect(traced.creations.map((creation) => `${creation.kind} ${creation.path} ${octal(creation.mode)}`)).toEqual([
        `directory ${join(work, 'out')} 0700`,
        `directory ${outdir} 0700`,
        `file ${join(outdir, 'container-registry.k8s.yaml')} 0600`,
      ]);
      expect(statSync(join(outdir, 'container-registry.k8s.yaml')).mode & 0o777).toBe(0o600);
      expect(statSync(outdir).mode & 0o777).toBe(0o700);
      // The umask is the user's again afterwards.
      expect(traced.stdout).toBe('22');
    });

    it("sees what a plain App does: the TLS key's file created 0644, readable by anyone until a chmod", async () => {
      const outdir = join(work, 'plain');
      const traced = await tracedSynth(work, outdir, 'App');
      expect(traced.creations.map((creation) => `${creation.kind} ${octal(creation.mode)}`)).toEqual([
        'directory 0755',
        'file 0644',
      ]);
    });

    it('makes an existing output directory private before writing into it, covering a manifest an older synth left 0644', async () => {
      const outdir = join(work, 'existing');
      mkdirSync(outdir, { mode: 0o755 });
      chmodSync(outdir, 0o755);
      const manifest = join(outdir, 'container-registry.k8s.yaml');
      writeFileSync(manifest, 'old\n', { mode: 0o644 });
      chmodSync(manifest, 0o644);
      const traced = await tracedSynth(work, outdir, 'PrivateApp');
      const chmod = traced.calls.findIndex((call) => new RegExp(`chmod(at)?\\(.*"${outdir}", 0700\\) = 0`).test(call));
      const write = traced.calls.findIndex((call) => call.includes(`"${manifest}"`) && call.includes('O_CREAT'));
      expect(chmod).toBeGreaterThanOrEqual(0);
      expect(write).toBeGreaterThan(chmod);
      expect(statSync(outdir).mode & 0o777).toBe(0o700);
      expect(readFileSync(manifest, 'utf8')).toContain('kind: Secret');
    });

    it('synthesizes in a worker thread too, where Node refuses to set the umask: the directory is still private', async () => {
      const outdir = join(work, 'worker');
      const script = `
        const { Worker } = require('node:worker_threads');
        const worker = new Worker(\`
          const lib = require(${JSON.stringify(join(REPO_ROOT, 'build', 'lib', 'index.js'))});
          const app = new lib.PrivateApp({ outdir: ${JSON.stringify(outdir)} });
          new lib.RegistryChart(app, 'container-registry', { material: lib.readMaterial(${JSON.stringify(FIXTURE_MATERIAL_DIR)}) });
          app.synth();
        \`, { eval: true });
        worker.on('error', (error) => { console.error(error); process.exitCode = 1; });
      `;
      const result = await run(process.execPath, ['-e', script], { cwd: REPO_ROOT });
      expect(result.code, result.stderr).toBe(0);
      expect(statSync(outdir).mode & 0o777).toBe(0o700);
      expect(readFileSync(join(outdir, 'container-registry.k8s.yaml'), 'utf8')).toContain('kind: Secret');
    });
  },
  { root: false },
);
