/**
 * Why DEFAULT_BCRYPT_COST is what it is: the registry checks the htpasswd hash on EVERY request (a 10-layer
 * push is ~55 requests), so the cost multiplies into push time. Each round pushes a fresh 10-layer image to
 * the real registry once per setting (no auth, htpasswd at several costs), in an order that rotates from
 * round to round; the ratio to the same round's no-auth push is reported as median and range.
 *   npm run bench            (BCRYPT_ROUNDS=N; default 5)
 */
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, it } from 'vitest';
import { DEFAULT_BCRYPT_COST } from '../lib/defaults';
import { createHtpasswd } from '../lib/htpasswd';
import { MATERIAL_FILES, generateMaterial, materialFiles } from '../lib/material';
import { median } from './paired';
import { freeLoopbackPort } from '../test/support/free-port';
import { writeOciImage } from '../test/support/oci-image';
import { type RunningRegistry, startRegistry, stopAllRegistries } from '../test/support/registry-process';
import { skopeoCopy } from '../test/support/skopeo';

const COSTS = [undefined, 4, 5, 7, 10] as const;
const ROUNDS = Number(process.env.BCRYPT_ROUNDS ?? 5);
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
  copyFileSync(join(work, 'material', MATERIAL_FILES.caCertificate), join(work, 'trust', 'ca.crt'));
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

const settingName = (cost: (typeof COSTS)[number]): string => (cost === undefined ? 'none' : `cost-${cost}`);

async function push(cost: (typeof COSTS)[number]): Promise<number> {
  const registry = registries.get(settingName(cost))!;
  const image = freshImage();
  const start = process.hrtime.bigint();
  const result = await skopeoCopy({
    from: `oci:${image}:latest`,
    to: `docker://localhost:${registry.port}/bench/image-${imageCounter}:latest`,
    creds: cost === undefined ? undefined : credentials,
    certDir: join(work, 'trust'),
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.code !== 0) throw new Error(`push failed: ${result.stderr}`);
  return seconds;
}

it(`pushes a ${LAYERS}-layer image over TLS with each bcrypt cost`, async () => {
  const seconds = new Map<(typeof COSTS)[number], number[]>(COSTS.map((cost) => [cost, []]));
  // One untimed push per registry first: the first push pays for cold caches.
  for (const cost of COSTS) await push(cost);
  for (let round = 0; round < ROUNDS; round++) {
    const order = COSTS.map((_, index) => COSTS[(index + round) % COSTS.length]);
    for (const cost of order) seconds.get(cost)!.push(await push(cost));
  }
  const none = seconds.get(undefined)!;
  const rows = COSTS.map((cost) => {
    const own = seconds.get(cost)!;
    const ratios = own.map((value, index) => value / none[index]);
    const name =
      cost === undefined ? 'no auth' : `bcrypt cost ${cost}${cost === DEFAULT_BCRYPT_COST ? ' (default)' : ''}`;
    return `| ${name} | ${Math.round(median(own) * 1000)} ms | **${median(ratios).toFixed(2)}x** | ${Math.min(...ratios).toFixed(2)}x–${Math.max(...ratios).toFixed(2)}x |`;
  });
  process.stdout.write(
    [
      '',
      '| htpasswd | median push | vs no auth, median | range |',
      '| --- | --- | --- | --- |',
      ...rows,
      `${ROUNDS} rounds; load average ${loadavg()
        .map((value) => value.toFixed(2))
        .join(' ')}`,
      '',
    ].join('\n'),
  );
});
