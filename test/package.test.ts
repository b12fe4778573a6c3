import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from './support/run';
import { FIXTURE_MATERIAL_DIR } from './support/fixture-material';
import { REPO_ROOT } from './support/synth-app';

/** What another cdk8s app gets: the compiled package (test/global-setup.ts built it), loaded by plain Node. */
describe('the built package', () => {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8'));

  it('has its entry points, types and the DaemonSet script where package.json says', () => {
    for (const file of [pkg.main, pkg.types, 'build/lib/node-hosts.sh', pkg.bin['private-registry']]) {
      expect(existsSync(join(REPO_ROOT, file)), file).toBe(true);
    }
  });

  it('synthesizes a RegistryChart from CommonJS, with the script embedded from the build', async () => {
    const script = `
      const { Testing } = require('cdk8s');
      const { RegistryChart, readMaterial } = require(${JSON.stringify(join(REPO_ROOT, pkg.main))});
      const manifests = Testing.synth(new RegistryChart(Testing.app(), 'registry', { material: readMaterial(${JSON.stringify(FIXTURE_MATERIAL_DIR)}) }));
      const configMap = manifests.find((o) => o.metadata.name === 'container-registry-node-hosts' && o.kind === 'ConfigMap');
      process.stdout.write(JSON.stringify({ kinds: manifests.map((o) => o.kind), script: configMap.data['node-hosts.sh'] }));
    `;
    const result = await run(process.execPath, ['-e', script], { cwd: REPO_ROOT });
    expect(result.code, result.stderr).toBe(0);
    const { kinds, script: embedded } = JSON.parse(result.stdout);
    expect(kinds[0]).toBe('Namespace');
    expect(kinds).toContain('DaemonSet');
    expect(embedded).toBe(readFileSync(join(REPO_ROOT, 'lib', 'node-hosts.sh'), 'utf8'));
  });
});
