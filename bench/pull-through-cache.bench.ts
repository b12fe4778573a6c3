/**
 * What a pull-through cache saves a node: real containerd in a simulated node pulls an image through the
 * synthesized docker.io cache (real docker-registry from the cache Deployment's env) when the cache already
 * holds it, against the first pull of an image, which the cache fetches from the upstream (a real registry
 * with token auth on the node's loopback, as in test/pull-through-cache.real.test.ts). containerd's content
 * store is emptied before every pull. Each round pulls one new image first (cold cache) and the previous
 * round's image again (warm cache), in alternating order, so load that comes and goes hits both alike.
 *   npm run bench -- bench/pull-through-cache.bench.ts     (BENCH_ROUNDS=N, default 7)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Testing } from 'cdk8s';
import { afterAll, beforeAll, it } from 'vitest';
import { RegistryChart, generateMaterial } from '../lib';
import { DEFAULT_CACHE_PORTS } from '../lib/cache-upstreams';
import { containerdHostsFiles } from '../lib/containerd-hosts';
import { NODE_CA_FILE, materialAddressesOf } from '../lib/material';
import { nodeRegistriesConfig } from '../lib/registries-yaml';
import type { Credentials } from '../lib/htpasswd';
import { K3D_NODE_HOSTS, type NodeSandbox, startNodeSandbox } from '../test/support/node-sandbox';
import { writeOciImage } from '../test/support/oci-image';
import { startCacheInNode } from '../test/support/pull-through-cache';
import { type UpstreamRegistry, startUpstreamRegistry } from '../test/support/upstream-registry';
import { median } from './paired';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
const LAYERS = 4;
const LAYER_BYTES = 4 * 1024 * 1024;
const SERVICE_IP = '10.43.0.50';
/** Where the stand-in for Docker Hub listens: an address of the node (a cache refuses a loopback upstream). */
const UPSTREAM_IP = '10.99.0.10';
const HUB_USER: Credentials = { username: 'hub-user', password: 'dckr_pat_bench-token' };

const work = mkdtempSync(join(tmpdir(), 'bench-cache-'));
let node: NodeSandbox;
let upstream: UpstreamRegistry;
let hostsDir: string;
let nodeCredentials: Credentials;

beforeAll(async () => {
  node = await startNodeSandbox({ addresses: [`${SERVICE_IP}/32`, `${UPSTREAM_IP}/32`], dns: false });
  upstream = await startUpstreamRegistry({
    node,
    workDir: join(work, 'upstream'),
    user: HUB_USER,
    address: UPSTREAM_IP,
  });
  const { material, manifests, registries, cachePort } = synthesizeWithCache(upstream.url);
  nodeCredentials = registries.configs?.[`container-registry.local:${cachePort}`]?.auth as Credentials;
  await startCacheInNode({
    node,
    manifests,
    deploymentName: 'container-registry-cache-docker-io',
    workDir: join(work, 'cache'),
    listen: { host: SERVICE_IP, port: cachePort },
    upstreamCaFile: upstream.caFile,
  });
  node.writeHosts(`${K3D_NODE_HOSTS}${SERVICE_IP} container-registry.local\n`);
  hostsDir = join(work, 'certs.d');
  const caFile = join(work, 'ca.crt');
  writeFileSync(caFile, material.ca.certificatePem);
  node.writeHostsToml(containerdHostsFiles(registries, { mapPath: () => caFile }), hostsDir);
}, 120_000);

afterAll(async () => {
  await node?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/**
 * The chart with a docker.io cache pulling from the loopback upstream with the account's token, and the
 * nodes' registries.yaml mirroring docker.io to it, as the material writes it.
 */
function synthesizeWithCache(remoteUrl: string) {
  const generated = generateMaterial();
  const registries = nodeRegistriesConfig({
    ...materialAddressesOf(generated.registries),
    credentials: generated.nodeCredentials,
    caFile: NODE_CA_FILE,
    caches: [{ upstream: 'docker.io', port: DEFAULT_CACHE_PORTS['docker.io'] }],
  });
  const material = { ...generated, registries };
  const chart = new RegistryChart(Testing.app(), 'registry', {
    material,
    caches: [{ upstream: 'docker.io', remoteUrl, credentials: HUB_USER }],
  });
  return { material, manifests: Testing.synth(chart), registries, cachePort: chart.caches[0].port };
}

/** An image of unique random layers: no blob of it is in the cache before its first pull. */
async function pushFreshImage(index: number): Promise<string> {
  const name = `library/bench-${index}`;
  const layout = writeOciImage(join(work, 'images', String(index)), {
    layers: Array.from({ length: LAYERS }, (_, layer) => ({ [`layer-${layer}.bin`]: randomBytes(LAYER_BYTES) })),
  });
  await upstream.push(layout.dir, name);
  rmSync(layout.dir, { recursive: true, force: true });
  return `docker.io/${name}:latest`;
}

/** Milliseconds of one `ctr images pull` from an empty content store. */
async function timedPull(ref: string): Promise<number> {
  const images = (await node.ctr(['images', 'ls', '--quiet'])).stdout.split('\n').filter((line) => line !== '');
  if (images.length > 0) await node.ctr(['images', 'rm', '--sync', ...images]);
  const left = (await node.ctr(['content', 'ls', '--quiet'])).stdout.trim();
  if (left !== '') throw new Error(`containerd still holds content before the pull:\n${left}`);
  const start = performance.now();
  const result = await node.pullImage(ref, { credentials: nodeCredentials, hostsDir, timeoutMs: 120_000 });
  const elapsed = performance.now() - start;
  if (result.code !== 0) throw new Error(`pull ${ref} failed:\n${result.stderr}`);
  return elapsed;
}

it(`pulls a ${LAYERS} x ${LAYER_BYTES / 1024 / 1024} MiB image through the docker.io cache: cached pull against first pull`, {
  timeout: 1_800_000,
}, async () => {
  const load = loadavg().map((value) => value.toFixed(2));
  const first: number[] = [];
  const cached: number[] = [];
  // Round 0's warm image: pulled once, untimed, so the cache holds it.
  let warm = await pushFreshImage(0);
  await timedPull(warm);
  for (let round = 1; round <= ROUNDS; round++) {
    const cold = await pushFreshImage(round);
    if (round % 2 === 1) {
      first.push(await timedPull(cold));
      cached.push(await timedPull(warm));
    } else {
      cached.push(await timedPull(warm));
      first.push(await timedPull(cold));
    }
    warm = cold;
  }
  const ratios = cached.map((value, index) => value / first[index]);
  const ms = (values: number[]) =>
    `median ${median(values).toFixed(0)} ms (${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)})`;
  process.stdout.write(
    `\n${LAYERS} x ${LAYER_BYTES / 1024 / 1024} MiB image, ${ROUNDS} rounds, alternating, containerd's content store empty before each pull:\n` +
      `  first pull (cache cold, through to the upstream) ${ms(first)}\n` +
      `  cached pull (cache warm)                          ${ms(cached)}\n` +
      `  cached/first: median ${median(ratios).toFixed(2)}x (${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}x)\n` +
      `  load average at the start ${load.join(' ')}, at the end ${loadavg()
        .map((value) => value.toFixed(2))
        .join(' ')}; Node ${process.version}\n`,
  );
});
