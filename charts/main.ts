import { existsSync } from 'node:fs';
import { DEFAULT_MATERIAL_DIR } from '../lib/defaults';
import { type MaterialKeys, assertMaterialPath, generateMaterialKeys } from '../lib/material';
import { ValidationError } from '../lib/validate';

/**
 * The app cdk8s.yaml runs (through charts/run.js). Creating material is mostly making two RSA keys, four
 * primes of a random 20-115 ms of CPU each (lib/rsa-key.ts): on a first synth they are made at the same time
 * in Node's thread pool, started before the app loads cdk8s and cdk8s-plus-28 (most of a synth's start-up),
 * so the key making and the loading overlap.
 */
async function main(): Promise<void> {
  const materialDir = process.env.REGISTRY_MATERIAL_DIR ?? DEFAULT_MATERIAL_DIR;
  // A path that cannot hold material (empty, a dangling link, a file) fails here, before keys are made for it.
  assertMaterialPath(materialDir);
  let keys: Promise<MaterialKeys> | undefined;
  if (!existsSync(materialDir)) keys = generateMaterialKeys();
  // require, not import(): a dynamic import would load Node's ESM loader, a cost the app need not pay.
  const { synthesizeApp } = require('./registry-app') as typeof import('./registry-app');
  synthesizeApp(materialDir, await keys);
}

// A user error (bad material, a path that cannot be used) is one line of ours, never a stack trace; anything
// else is a bug and keeps its trace.
main().catch((error: unknown) => {
  const { code, syscall, path: file } = error as NodeJS.ErrnoException;
  if (error instanceof ValidationError) process.stderr.write(`error: ${error.message}\n`);
  else if (typeof code === 'string' && syscall !== undefined)
    process.stderr.write(
      `error: cannot ${syscall} ${file ?? 'a material file'} (${code}): check REGISTRY_MATERIAL_DIR (default "${DEFAULT_MATERIAL_DIR}") and its permissions; private-registry doctor checks the material without touching dist/\n`,
    );
  else throw error;
  process.exitCode = 1;
});
