import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { main } from '../cli/main';
import { Testing } from 'cdk8s';
import { type Credentials, RegistryChart, readMaterial } from '../lib';
import { containerdHostsFiles } from '../lib/containerd-hosts';
import { NODE_MATERIAL_MOUNT_PATH } from '../lib/defaults';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES, NODE_DIR } from '../lib/material';
import { type RegistriesConfig, parseRegistriesYaml } from '../lib/registries-yaml';
import { captureIo } from './cli/helpers';
import { K3D_NODE_HOSTS, type NodeProcess, type NodeSandbox, startNodeSandbox } from './support/node-sandbox';
import { startCacheInNode } from './support/pull-through-cache';
import { describeReal } from './support/real-software';
import { registryEnvFromManifests } from './support/registry-from-manifests';
import type { RunResult } from './support/run';
import { REPO_ROOT, type SynthesizedApp, synthInProcess } from './support/synth-app';
import {
  UPSTREAM_GREETING,
  UPSTREAM_IMAGE,
  type UpstreamRegistry,
  startUpstreamRegistry,
} from './support/upstream-registry';

/**
 * The pull-through cache, proven with real parts and no network: a real registry on the node's loopback
 * stands in for Docker Hub (its own test CA, and a token server in front of it, as Docker Hub has); the
 * cache is the real docker-registry run from the synthesized cache Deployment's env and Secrets on the
 * "Service IP" at the cache's port; real containerd in the simulated k3d node pulls
 * docker.io/library/hello:latest through the hosts directory k3s writes from the material's registries.yaml.
 */
const TOOLS = ['ip', 'ss', 'containerd', 'ctr', 'docker-registry', 'skopeo', 'curl'];
const SERVICE_IP = '10.43.0.50';
/** Where the stand-in for Docker Hub listens: an address of the node (a cache refuses a loopback upstream). */
const UPSTREAM_IP = '10.99.0.10';
/** Where a second cache (another material's) listens while a test points the node's hosts line at it. */
const OTHER_SERVICE_IP = '10.43.0.51';
const REF = `docker.io/${UPSTREAM_IMAGE}:latest`;
const CACHE_DEPLOYMENT = 'container-registry-cache-docker-io';
const BIN = join(REPO_ROOT, 'bin', 'private-registry.js');
/** The Docker Hub account the material stores for the cache (a token, as Docker Hub's are). */
const HUB_USER: Credentials = { username: 'hub-user', password: 'dckr_pat_right-token-0123' };
const WRONG_TOKEN = 'dckr_pat_WRONG-token-9876';

describeReal('pull-through cache: containerd pulls docker.io through the synthesized cache', TOOLS, () => {
  const started = Date.now();
  let work: string;
  let node: NodeSandbox;
  let upstream: UpstreamRegistry;
  let app: SynthesizedApp;
  let cache: { process: NodeProcess; storage: string };
  let registries: RegistriesConfig;
  let cachePort: number;
  let cacheEndpoint: string; // container-registry.local:5100
  let firstDigest: string;
  const materialDir = () => join(work, 'registry');

  const ok = (result: RunResult) => {
    expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
    return result;
  };
  /** A CLI command in this process, as a user types it; fails the test unless it exits 0. */
  const cli = async (args: string[], stdin?: string) => {
    const io = captureIo({ stdin, now: new Date() });
    const code = await main(args, io);
    expect(code, `private-registry ${args.join(' ')}\n${io.out()}\n${io.err()}`).toBe(0);
    return io;
  };
  /** `private-registry cache login docker.io --username U --password-stdin`, the token on stdin. */
  const login = (dir: string, credentials: Credentials) =>
    cli(
      ['cache', 'login', 'docker.io', '--username', credentials.username, '--password-stdin', '--dir', dir],
      `${credentials.password}\n`,
    );
  /** GET the image's manifest from the cache listening at `ip`, as a node would (our CA, the nodes' user). */
  const cacheManifest = (dir: string, ip: string) => {
    const { username, password } = nodeCredentials(registries);
    return node.execInNode('curl', [
      ...['-sS', '-i', '--cacert', join(dir, MATERIAL_FILES.caCertificate), '-u', `${username}:${password}`],
      ...['-H', 'Accept: application/vnd.oci.image.manifest.v1+json'],
      ...['--resolve', `${cacheEndpoint}:${ip}`, `https://${cacheEndpoint}/v2/${UPSTREAM_IMAGE}/manifests/latest`],
    ]);
  };
  /** The manifests of a variant of the material: the registry chart alone, synthesized in this process. */
  const synthVariant = (dir: string) =>
    Testing.synth(new RegistryChart(Testing.app(), 'container-registry', { material: readMaterial(dir) }));
  /** The cache of the variant `name` (material `dir`), beside the first one (at OTHER_SERVICE_IP). */
  const startVariantCache = (name: string, dir: string, upstreamCaFile: string) =>
    startCacheInNode({
      node,
      manifests: synthVariant(dir),
      deploymentName: CACHE_DEPLOYMENT,
      workDir: join(work, name, 'cache'),
      listen: { host: OTHER_SERVICE_IP, port: cachePort },
      upstreamCaFile,
    });
  /** A copy of the material, for a variant of its caches. */
  const copyMaterial = (name: string) => {
    const dir = join(work, name, 'registry');
    cpSync(materialDir(), dir, { recursive: true });
    return dir;
  };
  /** The hosts directory k3s writes from a material's registries.yaml, node paths mapped onto the material. */
  const hostsDirOf = (dir: string, name: string) => {
    const config = parseRegistriesYaml(readFileSync(join(dir, MATERIAL_FILES.registriesYaml), 'utf8'));
    const hostsDir = join(work, name);
    node.writeHostsToml(
      containerdHostsFiles(config, {
        mapPath: (path) => path.replace(`${NODE_MATERIAL_MOUNT_PATH}/`, `${join(dir, NODE_DIR)}/`),
      }),
      hostsDir,
    );
    return hostsDir;
  };
  const nodeCredentials = (config: RegistriesConfig): Credentials => {
    const auth = config.configs?.[cacheEndpoint]?.auth;
    if (auth?.username === undefined || auth.password === undefined)
      throw new Error(`registries.yaml has no auth for ${cacheEndpoint}`);
    return { username: auth.username, password: auth.password };
  };
  const pull = (hostsDir: string) =>
    node.pullImage(REF, { credentials: nodeCredentials(registries), hostsDir, timeoutMs: 30_000 });
  /** The image's digest as containerd recorded it. */
  const imageDigest = async () => {
    const line = ok(await node.ctr(['images', 'ls']))
      .stdout.split('\n')
      .find((entry) => entry.startsWith(`${REF} `));
    const digest = line?.split(/\s+/)[2];
    if (digest === undefined) throw new Error(`containerd has no image ${REF}`);
    return digest;
  };
  /** Removes the image and lets containerd's garbage collection drop its content: an empty content store. */
  const forgetImage = async () => {
    ok(await node.ctr(['images', 'rm', '--sync', REF]));
    expect(ok(await node.ctr(['content', 'ls', '--quiet'])).stdout.trim()).toBe('');
  };
  /** `private-registry doctor --live` as a process in the node's network, where the upstream is. */
  const doctorLive = async (dir: string, dist: string, caFile = upstream.caFile) => {
    const result = await node.execInNode(process.execPath, [BIN, 'doctor', '--live', '--dir', dir, '--dist', dist], {
      // The upstream's test CA, as this machine trusts Docker Hub's public one.
      env: { NODE_EXTRA_CA_CERTS: caFile },
    });
    const line = (name: string) => result.stdout.split('\n').find((entry) => entry.includes(` ${name}: `)) ?? '';
    return { ...result, line };
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pull-through-'));
    node = await startNodeSandbox({
      addresses: [`${SERVICE_IP}/32`, `${OTHER_SERVICE_IP}/32`, `${UPSTREAM_IP}/32`],
      dns: false,
    });
    upstream = await startUpstreamRegistry({
      node,
      workDir: join(work, 'upstream'),
      user: HUB_USER,
      address: UPSTREAM_IP,
    });

    // The user's steps: material, a docker.io cache pulling from the stand-in, the account's token from stdin.
    await cli(['init', '--dir', materialDir()]);
    await cli(['cache', 'add', 'docker.io', '--remote-url', upstream.url, '--dir', materialDir()]);
    await login(materialDir(), HUB_USER);
    app = await synthInProcess(materialDir(), join(work, 'dist'));
    registries = parseRegistriesYaml(readFileSync(join(materialDir(), MATERIAL_FILES.registriesYaml), 'utf8'));
    const endpoint = registries.mirrors['docker.io']?.endpoint[0];
    expect(endpoint).toMatch(/^https:\/\/container-registry\.local:\d+$/);
    cacheEndpoint = new URL(endpoint as string).host;
    cachePort = Number(new URL(endpoint as string).port);

    // The registry itself, where the desktop reaches it (doctor --live checks it too).
    writeFileSync(join(work, 'registry.yml'), 'version: 0.1\n');
    const service = app.manifests.find((object) => object.kind === 'Service');
    await node.spawnInNode('docker-registry', ['serve', join(work, 'registry.yml')], {
      env: registryEnvFromManifests(app.manifests, join(work, 'pod'), `127.0.0.1:${service.spec.ports[0].nodePort}`),
      readyListen: { host: '127.0.0.1', port: service.spec.ports[0].nodePort },
    });
    cache = await startCacheInNode({
      node,
      manifests: app.manifests,
      deploymentName: CACHE_DEPLOYMENT,
      workDir: join(work, 'cache'),
      listen: { host: SERVICE_IP, port: cachePort },
      upstreamCaFile: upstream.caFile,
    });
    // The line the hosts DaemonSet keeps in every node's /etc/hosts (proven in node-pull.real.test.ts).
    node.writeHosts(`${K3D_NODE_HOSTS}${SERVICE_IP} container-registry.local\n`);
  });

  afterAll(async () => {
    try {
      await node?.dispose();
    } finally {
      if (work) rmSync(work, { recursive: true, force: true });
      console.log(`pull-through cache suite: ${Date.now() - started} ms`);
    }
  });

  it('the nodes mirror docker.io to the cache, with the default endpoint last and no upstream secret', () => {
    const hostsToml = readFileSync(join(materialDir(), CONTAINERD_HOSTS_DIR, 'docker.io', 'hosts.toml'), 'utf8');
    expect(hostsToml).toContain('server = "https://registry-1.docker.io/v2"');
    expect(hostsToml).toContain(`[host."https://${cacheEndpoint}/v2"]`);
    for (const file of [MATERIAL_FILES.registriesYaml, `${CONTAINERD_HOSTS_DIR}/docker.io/hosts.toml`])
      expect(readFileSync(join(materialDir(), file), 'utf8'), file).not.toContain(HUB_USER.password);
  });

  it('pulls docker.io/library/hello:latest through the cache, which fetched it from the upstream with the token', async () => {
    ok(await pull(hostsDirOf(materialDir(), 'certs.d')));
    expect(ok(await node.readImageFile(REF, 'hello.txt')).stdout).toBe(UPSTREAM_GREETING);
    firstDigest = await imageDigest();
    // containerd asked the cache (ns=docker.io is how containerd names the mirrored registry)...
    expect(cache.process.output()).toMatch(
      /"HEAD \/v2\/library\/hello\/manifests\/latest\?ns=docker\.io HTTP\/[\d.]+" 200/,
    );
    // ...the cache asked the upstream, with a token the token server gave the stored account...
    expect(upstream.requests()).toContainEqual(
      expect.stringMatching(/^"(GET|HEAD) \/v2\/library\/hello\/manifests\/latest HTTP\/[\d.]+" 200$/),
    );
    expect(upstream.tokenServer?.output()).toContain(
      `token "${HUB_USER.username}" repository:library/hello:pull -> 200`,
    );
    // ...and now holds the manifest and every blob in its own storage.
    expect(firstDigest).toBe(upstream.image.manifestDigest);
    const { manifestDigest, configDigest, layers } = upstream.image;
    for (const digest of [manifestDigest, configDigest, ...layers.map((layer) => layer.digest)]) {
      const hex = digest.slice('sha256:'.length);
      expect(
        existsSync(join(cache.storage, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data')),
        digest,
      ).toBe(true);
    }
  });

  it('doctor --live passes the upstream with the stored token', async () => {
    const result = await doctorLive(materialDir(), join(work, 'dist'));
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.line('upstream docker.io')).toBe(
      `ok    upstream docker.io: token from ${upstream.realm} for "${HUB_USER.username}": 200, the upstream accepts the stored credentials`,
    );
  });

  it('doctor --live without a stored account: the upstream gives no anonymous token, the fix is the login', async () => {
    const dir = copyMaterial('anonymous');
    await cli(['cache', 'logout', 'docker.io', '--dir', dir]);
    const result = await doctorLive(dir, join(work, 'anonymous', 'no-dist'));
    expect(result.code).toBe(1);
    expect(result.line('upstream docker.io')).toBe(
      `FAIL  upstream docker.io: docker.io gives no anonymous token: its token endpoint ${upstream.realm} answered 401 ("incorrect username or password"), and no credentials are stored for it; ` +
        `fix: store the right token or password from stdin: ${loginFix('USER', dir)} < token.txt (a file holding only the token), then apply: REGISTRY_MATERIAL_DIR=${dir} npx cdk8s synth && kubectl apply -f dist`,
    );
  });

  it('a wrong upstream token: the cache answers "manifest unknown", doctor --live names the refusal and the fix, never the token', async () => {
    const dir = copyMaterial('wrong-token');
    await login(dir, { username: HUB_USER.username, password: WRONG_TOKEN });
    const wrongCache = await startVariantCache('wrong-token', dir, upstream.caFile);
    try {
      // What the real cache answers: not 401, but 404 for an image the upstream holds.
      const manifest = await cacheManifest(dir, OTHER_SERVICE_IP);
      expect(manifest.stdout).toMatch(/^HTTP\/\S+ 404/);
      expect(manifest.stdout).toContain('"code":"MANIFEST_UNKNOWN"');
      expect(upstream.tokenServer?.output()).toContain(
        `token "${HUB_USER.username}" repository:library/hello:pull -> 401`,
      );
      // ...and a node, told 404 by the cache, goes on to the default endpoint: Docker Hub itself (offline here).
      node.writeHosts(`${K3D_NODE_HOSTS}${OTHER_SERVICE_IP} container-registry.local\n`);
      const pulled = await pull(hostsDirOf(dir, 'certs.d-wrong-token'));
      expect(pulled.code).not.toBe(0);
      expect(pulled.stderr).toContain('Head "https://registry-1.docker.io/v2/library/hello/manifests/latest"');
      console.log(
        `a wrong upstream token: the cache answered\n${manifest.stdout.trim()}\n${pulled.stderr.trim().split('\n').at(-1)}`,
      );
    } finally {
      node.writeHosts(`${K3D_NODE_HOSTS}${SERVICE_IP} container-registry.local\n`);
      await wrongCache.process.stop();
    }

    const result = await doctorLive(dir, join(work, 'wrong-token', 'no-dist'));
    console.log(`doctor --live with a wrong upstream token:\n${result.stdout}${result.stderr}`);
    expect(result.code).toBe(1);
    expect(result.line('live registry')).toMatch(/^ok /);
    const line = result.line('upstream docker.io');
    expect(line).toContain(
      `FAIL  upstream docker.io: docker.io refused the stored credentials of "hub-user": its token endpoint ${upstream.realm} answered 401 ("incorrect username or password")`,
    );
    expect(line).toContain(
      `fix: store the right token or password from stdin: ${loginFix(HUB_USER.username, dir)} < token.txt`,
    );
    for (const secret of [WRONG_TOKEN, HUB_USER.password]) {
      expect(result.stdout + result.stderr).not.toContain(secret);
    }
  });

  it('an upstream asking for Basic auth: the 2.8.2 cache never sends it, so doctor --live fails it even with a working login', async () => {
    const basicUpstream = await startUpstreamRegistry({
      node,
      workDir: join(work, 'basic-upstream'),
      user: HUB_USER,
      auth: 'htpasswd',
      address: UPSTREAM_IP,
    });
    try {
      const dir = copyMaterial('basic');
      await cli(['cache', 'rm', 'docker.io', '--dir', dir]);
      await cli(['cache', 'add', 'docker.io', '--remote-url', basicUpstream.url, '--dir', dir]);
      await login(dir, HUB_USER);
      const noDist = join(work, 'basic', 'no-dist');
      const right = await doctorLive(dir, noDist, basicUpstream.caFile);
      expect(right.code).toBe(1);
      expect(right.line('upstream docker.io')).toContain(
        `FAIL  upstream docker.io: GET ${basicUpstream.url}/v2/ with Basic auth: 200, logged in as "${HUB_USER.username}", but only from here; a cache cannot log in to it anyway: distribution's proxy sends credentials only to a Bearer token realm`,
      );
      expect(right.line('upstream docker.io')).toContain('fix: the cache needs an upstream with token auth');
      expect(right.stdout + right.stderr).not.toContain(HUB_USER.password);
      // The right credentials, yet the cache (Debian's distribution 2.8.2) answers 404: its proxy hands
      // credentials only to a Bearer token realm, never as Basic auth (distribution#3153).
      const basicCache = await startVariantCache('basic', dir, basicUpstream.caFile);
      try {
        expect((await cacheManifest(dir, OTHER_SERVICE_IP)).stdout).toContain('"code":"MANIFEST_UNKNOWN"');
        expect(basicUpstream.requests()).toContainEqual(
          expect.stringMatching(/^"(GET|HEAD) \/v2\/library\/hello\/manifests\/latest HTTP\/[\d.]+" 401$/),
        );
      } finally {
        await basicCache.process.stop();
      }

      await login(dir, { username: HUB_USER.username, password: WRONG_TOKEN });
      const wrong = await doctorLive(dir, noDist, basicUpstream.caFile);
      expect(wrong.code).toBe(1);
      expect(wrong.line('upstream docker.io')).toContain(
        `FAIL  upstream docker.io: docker.io refused the stored credentials of "${HUB_USER.username}": GET ${basicUpstream.url}/v2/ with Basic auth answered 401`,
      );
      expect(wrong.stdout + wrong.stderr).not.toContain(WRONG_TOKEN);
    } finally {
      await basicUpstream.stop();
    }
  });

  it('pulls again from an empty content store with the upstream stopped: served by the cache, same digest', async () => {
    await forgetImage();
    await upstream.stop();
    expect(upstream.registry.exitStatus()).not.toBeNull();
    const requestsBefore = upstream.requests().length;
    ok(await pull(hostsDirOf(materialDir(), 'certs.d-again')));
    expect(await imageDigest()).toBe(firstDigest);
    expect(ok(await node.readImageFile(REF, 'hello.txt')).stdout).toBe(UPSTREAM_GREETING);
    expect(upstream.requests().length).toBe(requestsBefore);
  });
});

/** The login fix doctor must name: the user name, the token on stdin (never on the command line). */
const loginFix = (username: string, dir: string) =>
  `private-registry cache login docker.io --username ${username} --password-stdin --dir ${dir}`;
