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

export function loadManifests(dir: string): any[] {
  return readdirSync(dir)
    .filter((file) => file.endsWith('.k8s.yaml'))
    .sort()
    .flatMap((file) => yaml.loadAll(readFileSync(join(dir, file), 'utf8')).filter((object) => object !== null));
}
