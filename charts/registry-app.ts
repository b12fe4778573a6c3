import { App } from 'cdk8s';
// The modules it uses, not ../lib: the index would load the CLI's helpers (probe, trust, k3d config) too.
import { type MaterialKeys, loadOrCreateMaterial } from '../lib/material';
import { readMaterialStorage } from '../lib/material-storage';
import { PrivateApp } from '../lib/private-app';
import { RegistryChart } from '../lib/registry-chart';
import { ExampleChart } from './example-chart';

/**
 * The project's app: the registry's manifests into dist/, the example pod into dist/example. `keys`, when
 * given, are the RSA keys to create the material with if `materialDir` does not exist (main.ts starts them).
 */
export function synthesizeApp(materialDir: string, keys?: MaterialKeys): void {
  // The material directory is created on the first synth and only read after that, so every synth
  // from the same material writes byte-identical manifests.
  const { material, created, recovered } = loadOrCreateMaterial(materialDir, { keys });
  for (const line of recovered) process.stderr.write(`recovered: ${line}\n`);
  if (created) {
    process.stderr.write(
      `created ${materialDir}/ (CA, server certificate, htpasswd, registries.yaml); password for user "${material.nodeCredentials.username}" is in ${materialDir}/auth/password\n`,
    );
  }
  // The manifests hold the TLS key and the htpasswd: private (dist/ 0700, files 0600) from their first byte.
  const app = new PrivateApp();
  // Hostname and ports follow the material's registries.yaml (e.g. `private-registry init --node-port 30500`).
  // S3 (and two replicas) once `private-registry storage s3` stored a bucket; else a PersistentVolumeClaim.
  const chart = new RegistryChart(app, 'container-registry', { material, storage: readMaterialStorage(materialDir) });
  app.synth();

  // The example pod goes to a sub-directory: `kubectl apply -f dist` does not recurse, so the pod only
  // starts when you apply dist/example after pushing its image. It holds no secret, so a plain App (0644
  // files) will do; inside the private dist/ only you can reach it anyway.
  const exampleApp = new App({ outdir: `${app.outdir}/example` });
  new ExampleChart(exampleApp, 'hello-world-example', {
    image: `localhost:${chart.registry.nodePort}/hello-world-example:latest`,
  });
  exampleApp.synth();
}
