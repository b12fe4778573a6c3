/**
 * What S3 storage costs against the filesystem volume: the same synthesized registry (RegistryChart, TLS and
 * htpasswd) once with a PersistentVolumeClaim (a local directory here) and once on a Ceph RADOS Gateway
 * bucket on loopback. Rounds alternate between the two so machine load hits both alike; the report is the
 * median and range of each, and the S3/filesystem ratio of the medians from this one run.
 *   npm run bench -- bench/s3-storage.bench.ts
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing } from 'cdk8s';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { RegistryChart, RegistryStorage, generateMaterial } from '../lib';
import { type CephRgw, startCephRgw } from '../test/support/ceph-rgw';
import { freeLoopbackPort } from '../test/support/free-port';
import { writeOciImage } from '../test/support/oci-image';
import { type RegistryEndpoint, pullImage } from '../test/support/registry-client';
import { registryEnvFromManifests } from '../test/support/registry-from-manifests';
import { startRegistry, stopAllRegistries } from '../test/support/registry-process';
import { skopeoCopy } from '../test/support/skopeo';

const ROUNDS = 7;
const LAYERS = 4;
const LAYER_BYTES = 4 * 1024 * 1024;
const BUCKET = 'bench-registry';
const MODES = ['filesystem', 's3'] as const;
type Mode = (typeof MODES)[number];

const work = mkdtempSync(join(tmpdir(), 'bench-s3-'));
const material = generateMaterial();
const endpoints = new Map<Mode, RegistryEndpoint>();
let ceph: CephRgw | undefined;
let imageCounter = 0;

/** An image of unique random layers, so no push can skip a blob the registry already has. */
function freshImage(): string {
  const dir = join(work, 'images', String(imageCounter++));
  writeOciImage(dir, {
    layers: Array.from({ length: LAYERS }, (_, index) => ({ [`layer-${index}.bin`]: randomBytes(LAYER_BYTES) })),
  });
  return dir;
}

async function startMode(mode: Mode): Promise<void> {
  const storage =
    mode === 's3' && ceph !== undefined
      ? RegistryStorage.s3({
          endpoint: ceph.endpoint,
          insecureHttp: true,
          region: ceph.region,
          bucket: BUCKET,
          credentials: { accessKeyId: ceph.accessKeyId, secretAccessKey: ceph.secretAccessKey },
        })
      : undefined;
  const manifests = Testing.synth(new RegistryChart(Testing.app(), 'registry', { material, storage }));
  const port = await freeLoopbackPort();
  const env = registryEnvFromManifests(manifests, join(work, 'pod', mode), `127.0.0.1:${port}`);
  mkdirSync(join(work, 'run', mode), { recursive: true });
  await startRegistry({ env, workDir: join(work, 'run', mode) });
  endpoints.set(mode, {
    base: `https://localhost:${port}`,
    ca: material.ca.certificatePem,
    auth: material.nodeCredentials,
  });
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
};
const summary = (values: number[]) =>
  `median ${median(values).toFixed(0)} ms (range ${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)})`;

beforeAll(async () => {
  // skopeo's cert dir must hold ca.crt alone.
  mkdirSync(join(work, 'trust'));
  writeFileSync(join(work, 'trust', 'ca.crt'), material.ca.certificatePem);
  ceph = await startCephRgw();
  await ceph.createBucket(BUCKET);
  for (const mode of MODES) await startMode(mode);
}, 120_000);

afterAll(async () => {
  await stopAllRegistries();
  await ceph?.stop();
  rmSync(work, { recursive: true, force: true });
});

describe(`push and pull a ${LAYERS} x ${LAYER_BYTES / 1024 / 1024} MiB image: S3 (Ceph RGW) against the filesystem`, () => {
  it(`${ROUNDS} alternating rounds per storage`, { timeout: 1_800_000 }, async () => {
    const times: Record<Mode, { push: number[]; pull: number[] }> = {
      filesystem: { push: [], pull: [] },
      s3: { push: [], pull: [] },
    };
    const trustDir = join(work, 'trust');
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which goes first, so neither always runs right after image generation.
      const order = round % 2 === 0 ? MODES : ([...MODES].reverse() as Mode[]);
      for (const mode of order) {
        const endpoint = endpoints.get(mode) as RegistryEndpoint;
        const image = freshImage();
        const name = `bench/image-${imageCounter}`;
        const pushStart = performance.now();
        const pushed = await skopeoCopy({
          from: `oci:${image}:latest`,
          to: `docker://${endpoint.base.slice('https://'.length)}/${name}:latest`,
          creds: endpoint.auth,
          certDir: trustDir,
        });
        if (pushed.code !== 0) throw new Error(`push to ${mode} failed: ${pushed.stderr}`);
        times[mode].push.push(performance.now() - pushStart);
        const pullStart = performance.now();
        await pullImage(endpoint, name, 'latest');
        times[mode].pull.push(performance.now() - pullStart);
      }
    }
    const lines = MODES.map(
      (mode) => `  ${mode.padEnd(10)} push ${summary(times[mode].push)}; pull ${summary(times[mode].pull)}`,
    );
    const ratio = (kind: 'push' | 'pull') => (median(times.s3[kind]) / median(times.filesystem[kind])).toFixed(2);
    process.stdout.write(
      `\n${LAYERS} x ${LAYER_BYTES / 1024 / 1024} MiB image, ${ROUNDS} rounds each, alternating:\n${lines.join('\n')}\n` +
        `  S3/filesystem (medians): push ${ratio('push')}x, pull ${ratio('pull')}x\n`,
    );
  });
});
