import * as fs from 'node:fs';
import * as path from 'node:path';
import { App } from 'cdk8s';
// The modules it uses, not ../lib: the index would load the CLI's helpers (probe, trust, k3d config) too.
import { DEFAULT_MATERIAL_DIR } from '../lib/defaults';
import { loadOrCreateMaterial } from '../lib/material';
import { RegistryChart } from '../lib/registry-chart';
import { ValidationError } from '../lib/validate';
import { ExampleChart } from './example-chart';

function main(): void {
  // The material directory is created on the first synth and only read after that, so every synth
  // from the same material writes byte-identical manifests.
  const materialDir = process.env.REGISTRY_MATERIAL_DIR ?? DEFAULT_MATERIAL_DIR;
  const { material, created } = loadOrCreateMaterial(materialDir);
  if (created) {
    process.stderr.write(
      `created ${materialDir}/ (CA, server certificate, htpasswd, registries.yaml); password for user "${material.nodeCredentials.username}" is in ${materialDir}/auth/password\n`,
    );
  }
  const app = new App();
  // Hostname and ports follow the material's registries.yaml (e.g. `private-registry init --node-port 30500`).
  const chart = new RegistryChart(app, 'container-registry', { material });
  app.synth();
  // The manifests hold the TLS key and the htpasswd: as private as the material they come from.
  for (const file of fs.readdirSync(app.outdir).filter((name) => name.endsWith('.k8s.yaml')))
    fs.chmodSync(path.join(app.outdir, file), 0o600);

  // The example pod goes to a sub-directory: `kubectl apply -f dist` does not recurse, so the pod only
  // starts when you apply dist/example after pushing its image.
  const exampleApp = new App({ outdir: `${app.outdir}/example` });
  new ExampleChart(exampleApp, 'hello-world-example', {
    image: `localhost:${chart.registry.nodePort}/hello-world-example:latest`,
  });
  exampleApp.synth();
}

try {
  main();
} catch (error) {
  if (!(error instanceof ValidationError)) throw error;
  process.stderr.write(`error: ${error.message}\n`);
  process.exitCode = 1;
}
