/**
 * Why DEFAULT_BCRYPT_COST is 5: the registry checks the htpasswd hash on EVERY request (a 10-layer push
 * is ~55 requests), so the cost multiplies into push time. Pushes a fresh 10-layer image to the real
 * registry with no auth and with htpasswd at several costs; compare the ratios of one run.
 *   npm run bench
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, bench, describe } from 'vitest';
import { createHtpasswd } from '../lib/htpasswd';
import { generateMaterial, materialFiles } from '../lib/material';
import { freeLoopbackPort } from '../test/support/free-port';
import { writeOciImage } from '../test/support/oci-image';
import { type RunningRegistry, startRegistry, stopAllRegistries } from '../test/support/registry-process';
import { skopeoCopy } from '../test/support/skopeo';

const COSTS = [undefined, 4, 5, 7, 10] as const;
const ITERATIONS = 5;
const LAYERS = 10;
const credentials = { username: 'bench', password: 'bench-password' };

const work = mkdtempSync(join(tmpdir(), 'bench-bcrypt-'));
const registries = new Map<string, RunningRegistry>();
let imageCounter = 0;

/** A 10-layer image with unique bytes, so no push can skip a blob the registry already has. */
function freshImage(): string {
  const dir = join(work, 'images', String(imageCounter++));
  writeOciImage(dir, {
    layers: Array.from({ length: LAYERS }, (_, index) => ({ [`layer-${index}.bin`]: randomBytes(4096) })),
  });
  return dir;
}

beforeAll(async () => {
  const material = generateMaterial();
  for (const file of materialFiles(material)) {
    mkdirSync(join(work, 'material', file.relativePath, '..'), { recursive: true });
    writeFileSync(join(work, 'material', file.relativePath), file.content);
  }
  mkdirSync(join(work, 'trust'));
  copyFileSync(join(work, 'material', 'certs', 'ca.crt'), join(work, 'trust', 'ca.crt'));
  for (const cost of COSTS) {
    const name = cost === undefined ? 'none' : `cost-${cost}`;
    const port = await freeLoopbackPort();
    const env: Record<string, string> = {
      REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
      REGISTRY_HTTP_SECRET: 'bench',
      REGISTRY_HTTP_TLS_CERTIFICATE: join(work, 'material', 'certs', 'tls.crt'),
      REGISTRY_HTTP_TLS_KEY: join(work, 'material', 'certs', 'tls.key'),
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(work, 'storage', name),
    };
    if (cost !== undefined) {
      writeFileSync(join(work, `htpasswd-${name}`), createHtpasswd([credentials], cost));
      Object.assign(env, {
        REGISTRY_AUTH: 'htpasswd',
        REGISTRY_AUTH_HTPASSWD_REALM: 'bench',
        REGISTRY_AUTH_HTPASSWD_PATH: join(work, `htpasswd-${name}`),
      });
    }
    mkdirSync(join(work, 'run', name), { recursive: true });
    registries.set(name, await startRegistry({ env, workDir: join(work, 'run', name) }));
  }
});

afterAll(async () => {
  await stopAllRegistries();
  rmSync(work, { recursive: true, force: true });
});

describe(`push a ${LAYERS}-layer image over TLS`, () => {
  for (const cost of COSTS) {
    const name = cost === undefined ? 'none' : `cost-${cost}`;
    bench(
      cost === undefined ? 'no auth' : `htpasswd bcrypt cost ${cost}`,
      async () => {
        const registry = registries.get(name)!;
        const result = await skopeoCopy({
          from: `oci:${freshImage()}:latest`,
          to: `docker://localhost:${registry.port}/bench/image-${imageCounter}:latest`,
          creds: cost === undefined ? undefined : credentials,
          certDir: join(work, 'trust'),
        });
        if (result.code !== 0) throw new Error(`push failed: ${result.stderr}`);
      },
      { iterations: ITERATIONS, time: 0, warmupIterations: 1 },
    );
  }
});
