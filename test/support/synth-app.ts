import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { run } from './run';

export const REPO_ROOT = join(__dirname, '..', '..');

export interface SynthesizedApp {
  /** Objects of dist/*.k8s.yaml, in file order (what `kubectl apply -f dist` applies). */
  readonly manifests: any[];
  /** Objects of dist/example/*.k8s.yaml. */
  readonly exampleManifests: any[];
  readonly stderr: string;
}

/**
 * Runs the project's real synth (`cdk8s synth` on the compiled app; test/global-setup.ts compiled it)
 * with the material directory and the output directory of the caller's choosing.
 */
export async function synthApp(materialDir: string, outDir: string): Promise<SynthesizedApp> {
  const cdk8s = join(REPO_ROOT, 'node_modules', '.bin', 'cdk8s');
  const result = await run(
    cdk8s,
    ['synth', '--no-check-upgrade', '--app', 'node build/charts/main.js', '--output', outDir],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, REGISTRY_MATERIAL_DIR: materialDir },
    },
  );
  if (result.code !== 0) throw new Error(`cdk8s synth failed (${result.code}):\n${result.stdout}\n${result.stderr}`);
  return {
    manifests: loadManifests(outDir),
    exampleManifests: loadManifests(join(outDir, 'example')),
    stderr: result.stderr,
  };
}

/**
 * The same app (charts/registry-app.ts, what build/charts/main.js runs) synthesized in this process, where
 * cdk8s is already loaded: for a suite whose claim is about our manifests, not about cdk8s-cli. A cdk8s-cli
 * start and the app's own start cost ~1.1 s of CPU each time. test/synth.test.ts (synthApp above),
 * test/synth-staleness.test.ts and the cdk8s-cli case of test/bad-input.real.test.ts keep proving the real
 * `cdk8s synth` path.
 * The output directory reaches the app the way cdk8s-cli passes it (CDK8S_OUTDIR), and what the app tells
 * the user on stderr is collected instead of printed; both are put back before this returns. New material
 * takes its keys from the test key pool (test/support/rsa-key-pool.ts).
 */
export async function synthInProcess(materialDir: string, outDir: string): Promise<SynthesizedApp> {
  // Loaded here, not at the top: the suites that only read manifests (loadManifests) need not load the charts.
  // (".js": how an import() names a TypeScript module under nodenext resolution.)
  const { synthesizeApp } = await import('../../charts/registry-app.js');
  const outDirBefore = process.env.CDK8S_OUTDIR;
  const write = process.stderr.write;
  let stderr = '';
  process.env.CDK8S_OUTDIR = outDir;
  process.stderr.write = ((chunk: string | Uint8Array) => {
    stderr += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  }) as typeof process.stderr.write;
  try {
    synthesizeApp(materialDir);
  } finally {
    process.stderr.write = write;
    if (outDirBefore === undefined) delete process.env.CDK8S_OUTDIR;
    else process.env.CDK8S_OUTDIR = outDirBefore;
  }
  return { manifests: loadManifests(outDir), exampleManifests: loadManifests(join(outDir, 'example')), stderr };
}

export function loadManifests(dir: string): any[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.k8s.yaml'))
    .sort()
    .flatMap((file) => yaml.loadAll(readFileSync(join(dir, file), 'utf8')).filter((object) => object !== null));
}
