import * as fs from 'node:fs';
import * as path from 'node:path';
import { Testing } from 'cdk8s';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { RegistryChart, readMaterial } from '../../lib';
import { containerdHostsFiles } from '../../lib/containerd-hosts';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES } from '../../lib/material';
import { CACHES_FILE } from '../../lib/material-caches-file';
import { removeMaterialUser, addMaterialUser } from '../../lib/material-users';
import { parseRegistriesYaml } from '../../lib/registries-yaml';
import { FIXTURE_USER, NOW, captureIo, materialTemplate, read, treeHashes } from './helpers';

const TOKEN = 'dckr_pat_0123456789-secret';

/** Every file of the node directory, with its content. */
function nodeFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  const walk = (current: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      if (entry.isDirectory()) walk(full);
      else files[path.relative(dir, full)] = fs.readFileSync(full, 'utf8');
    }
  };
  walk(path.join(dir, 'node'));
  return files;
}

async function run(args: string[], stdin?: string) {
  const io = captureIo({ stdin });
  const code = await main(args, io);
  return { code, out: io.out(), err: io.err() };
}

describe('cache', () => {
  let template: ReturnType<typeof materialTemplate>;
  beforeAll(() => {
    template = materialTemplate();
  });

  it('add writes the caches file 0600 outside node/, and mirrors the upstream in registries.yaml and certs.d', async () => {
    const dir = template.copy();
    const added = await run(['cache', 'add', 'docker.io', '--dir', dir]);
    expect(added).toMatchObject({ code: 0, out: '' });
    expect(added.err).toContain(
      'added a cache of docker.io (from https://registry-1.docker.io, TTL 168h) on port 5100: the nodes pull docker.io through it',
    );
    expect(added.err).toContain('k3s reads registries.yaml only at start');
    const file = path.join(dir, CACHES_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(read(dir, CACHES_FILE))).toEqual({
      caches: [{ upstream: 'docker.io', remoteUrl: 'https://registry-1.docker.io', port: 5100, ttl: '168h' }],
    });
    const registries = parseRegistriesYaml(read(dir, MATERIAL_FILES.registriesYaml));
    expect(registries.mirrors['docker.io']).toEqual({ endpoint: ['https://container-registry.local:5100'] });
    expect(registries.configs?.['container-registry.local:5100']).toEqual(
      registries.configs?.['container-registry.local:5000'],
    );
    // certs.d is what k3s renders from the new registries.yaml, byte for byte.
    for (const hosts of containerdHostsFiles(registries))
      expect(read(dir, `${CONTAINERD_HOSTS_DIR}/${hosts.host}/hosts.toml`)).toBe(hosts.content);
    expect(read(dir, `${CONTAINERD_HOSTS_DIR}/docker.io/hosts.toml`)).toContain(
      '[host."https://container-registry.local:5100/v2"]',
    );
    // No journal or temp file is left behind.
    expect(fs.readdirSync(dir).sort()).toEqual(['auth', 'caches', 'certs', 'node']);
  });

  it('add https://docker.io is the known upstream docker.io, pulled from registry-1.docker.io', async () => {
    const dir = template.copy();
    expect((await run(['cache', 'add', 'https://docker.io', '--dir', dir])).code).toBe(0);
    expect((await run(['cache', 'add', 'https://ghcr.io', '--dir', dir])).code).toBe(0);
    expect(JSON.parse(read(dir, CACHES_FILE)).caches).toEqual([
      { upstream: 'docker.io', remoteUrl: 'https://registry-1.docker.io', port: 5100, ttl: '168h' },
      { upstream: 'ghcr.io', remoteUrl: 'https://ghcr.io', port: 5101, ttl: '168h' },
    ]);
    // The same cache: adding docker.io by name again is a second one.
    expect((await run(['cache', 'add', 'docker.io', '--dir', dir])).err).toContain(
      'there is already a cache for "docker.io"',
    );
  });

  it("round-trips through readMaterial into the default chart: the synthesized caches are the material's", async () => {
    const dir = template.copy();
    expect((await run(['cache', 'add', 'docker.io', '--dir', dir])).code).toBe(0);
    expect((await run(['cache', 'add', 'https://registry.example.com', '--ttl', '24h', '--dir', dir])).code).toBe(0);
    expect(
      (
        await run(
          ['cache', 'login', 'docker.io', '--username', 'hub-user', '--password-stdin', '--dir', dir],
          `${TOKEN}\n`,
        )
      ).code,
    ).toBe(0);
    const material = readMaterial(dir, { requireCurrentCertificates: false, now: NOW });
    expect(material.caches).toEqual([
      {
        upstream: 'docker.io',
        remoteUrl: 'https://registry-1.docker.io',
        port: 5100,
        ttl: '168h',
        credentials: { username: 'hub-user', password: TOKEN },
      },
      { upstream: 'registry.example.com', remoteUrl: 'https://registry.example.com', port: 5104, ttl: '24h' },
    ]);
    const chart = new RegistryChart(Testing.app(), 'registry', { material: { ...material } });
    expect(chart.caches.map((cache) => [cache.upstream, cache.port, cache.ttl])).toEqual([
      ['docker.io', 5100, '168h'],
      ['registry.example.com', 5104, '24h'],
    ]);
    const manifests = Testing.synth(chart);
    const secret = manifests.find((object) => object.metadata.name === 'container-registry-cache-docker-io-upstream');
    expect(Buffer.from(secret.data.password, 'base64').toString()).toBe(TOKEN);
    // The token never reaches a node file.
    for (const [file, content] of Object.entries(nodeFiles(dir))) expect(content, file).not.toContain(TOKEN);
  });

  it('login reads the token from stdin only, never prints it; list never shows it; logout forgets it', async () => {
    const dir = template.copy();
    await run(['cache', 'add', 'ghcr.io', '--dir', dir]);
    const login = await run(
      ['cache', 'login', 'ghcr.io', '--username', 'octocat', '--password-stdin', '--dir', dir],
      `${TOKEN}\n`,
    );
    expect(login.code).toBe(0);
    expect(`${login.out}${login.err}`).not.toContain(TOKEN);
    expect(login.err).toContain(`stored the ghcr.io account of user "octocat" in ${path.join(dir, CACHES_FILE)} (0600`);
    expect(fs.statSync(path.join(dir, CACHES_FILE)).mode & 0o777).toBe(0o600);
    const list = await run(['cache', 'list', '--dir', dir]);
    expect(list.out).toBe('ghcr.io\tcontainer-registry.local:5101\thttps://ghcr.io\tttl 168h\tuser octocat\n');
    const json = await run(['cache', 'list', '--json', '--dir', dir]);
    expect(JSON.parse(json.out)).toEqual([
      {
        upstream: 'ghcr.io',
        remoteUrl: 'https://ghcr.io',
        port: 5101,
        ttl: '168h',
        endpoint: 'container-registry.local:5101',
        username: 'octocat',
      },
    ]);
    expect(`${list.out}${list.err}${json.out}${json.err}`).not.toContain(TOKEN);
    expect((await run(['cache', 'logout', 'ghcr.io', '--dir', dir])).code).toBe(0);
    expect(read(dir, CACHES_FILE)).not.toContain(TOKEN);
    expect((await run(['cache', 'list', '--dir', dir])).out).toContain('\tanonymous\n');
  });

  it('logout names the kubectl command that deletes the Secret apply leaves behind, in the namespace given', async () => {
    const dir = template.copy();
    await run(['cache', 'add', 'ghcr.io', '--dir', dir]);
    await run(['cache', 'login', 'ghcr.io', '--username', 'octocat', '--password-stdin', '--dir', dir], `${TOKEN}\n`);
    // The Secret that holds the token in dist/ before the logout: the one the command must name.
    const material = readMaterial(dir, { requireCurrentCertificates: false, now: NOW });
    const secrets = Testing.synth(new RegistryChart(Testing.app(), 'registry', { material: { ...material } }))
      .filter((object) => object.kind === 'Secret' && object.data?.password !== undefined)
      .map((object) => object.metadata.name);
    expect(secrets).toEqual(['container-registry-cache-ghcr-io-upstream']);
    const logout = await run(['cache', 'logout', 'ghcr.io', '--dir', dir]);
    expect(logout.code).toBe(0);
    expect(logout.err).toContain(`kubectl -n container-registry delete secret ${secrets[0]}\n`);
    await run(['cache', 'login', 'ghcr.io', '--username', 'octocat', '--password-stdin', '--dir', dir], `${TOKEN}\n`);
    const elsewhere = await run(['cache', 'logout', 'ghcr.io', '--namespace', 'registry-ns', '--dir', dir]);
    expect(elsewhere.err).toContain(`kubectl -n registry-ns delete secret ${secrets[0]}\n`);
    expect(`${logout.err}${elsewhere.err}`).not.toContain(TOKEN);
  });

  it('rm names the namespace given; a bad one is refused before the material changes', async () => {
    const dir = template.copy();
    await run(['cache', 'add', 'quay.io', '--dir', dir]);
    const before = treeHashes(dir);
    const bad = await run(['cache', 'rm', 'quay.io', '--namespace', 'Not_A_Label', '--dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('--namespace');
    expect(treeHashes(dir)).toEqual(before);
    const removed = await run(['cache', 'rm', 'quay.io', '--namespace', 'registry-ns', '--dir', dir]);
    expect(removed.err).toContain(
      'kubectl -n registry-ns delete deployment,pvc,secret -l cdk8s-private-registry/upstream=quay-io\n',
    );
  });

  it('rm removes the mirror, its configs and its certs.d; the last one removes the caches file', async () => {
    const dir = template.copy();
    const before = treeHashes(dir);
    await run(['cache', 'add', 'quay.io', '--dir', dir]);
    await run(['cache', 'add', 'registry.k8s.io', '--dir', dir]);
    expect(fs.existsSync(path.join(dir, CONTAINERD_HOSTS_DIR, 'quay.io', 'hosts.toml'))).toBe(true);
    const removed = await run(['cache', 'rm', 'quay.io', '--dir', dir]);
    expect(removed.code).toBe(0);
    expect(removed.err).toContain('removed the cache of quay.io');
    expect(removed.err).toContain(
      'kubectl -n container-registry delete deployment,pvc,secret -l cdk8s-private-registry/upstream=quay-io\n',
    );
    const registries = parseRegistriesYaml(read(dir, MATERIAL_FILES.registriesYaml));
    expect(Object.keys(registries.mirrors)).toEqual([
      'container-registry.local:5000',
      'localhost:31113',
      'registry.k8s.io',
    ]);
    expect(Object.keys(registries.configs ?? {})).toEqual([
      'container-registry.local:5000',
      'container-registry.local:5103',
    ]);
    expect(fs.existsSync(path.join(dir, CONTAINERD_HOSTS_DIR, 'quay.io', 'hosts.toml'))).toBe(false);
    await run(['cache', 'rm', 'registry.k8s.io', '--dir', dir]);
    expect(fs.existsSync(path.join(dir, CACHES_FILE))).toBe(false);
    // Back to the very bytes of the material without caches (the empty caches/ directory aside).
    const after = treeHashes(dir);
    delete after['caches/'];
    expect(after).toEqual(before);
  });

  it("switching the nodes' user gives the caches' endpoints the new user too", async () => {
    const dir = template.copy();
    await run(['cache', 'add', 'docker.io', '--dir', dir]);
    addMaterialUser(dir, 'ci', { password: 'ci-password-123' });
    removeMaterialUser(dir, FIXTURE_USER.username, { nodeUser: { username: 'ci', password: 'ci-password-123' } });
    const registries = parseRegistriesYaml(read(dir, MATERIAL_FILES.registriesYaml));
    expect(registries.configs?.['container-registry.local:5100']?.auth).toEqual({
      username: 'ci',
      password: 'ci-password-123',
    });
    expect(registries.configs?.['container-registry.local:5000']?.auth?.username).toBe('ci');
  });

  it('init --cache starts with caches, each on its default port', async () => {
    const dir = path.join(path.dirname(template.copy()), 'fresh');
    const created = await run(['init', '--dir', dir, '--cache', 'docker.io', '--cache', 'ghcr.io']);
    expect(created.code).toBe(0);
    expect(created.err).toContain('pull-through caches of docker.io, ghcr.io');
    const material = readMaterial(dir);
    expect(material.caches?.map((cache) => `${cache.upstream}:${cache.port}`)).toEqual([
      'docker.io:5100',
      'ghcr.io:5101',
    ]);
    expect(fs.statSync(path.join(dir, CACHES_FILE)).mode & 0o777).toBe(0o600);
    expect(fs.existsSync(path.join(dir, CONTAINERD_HOSTS_DIR, 'ghcr.io', 'hosts.toml'))).toBe(true);
  });

  it('a caches file that disagrees with registries.yaml is refused by readMaterial, naming both and the fix', async () => {
    const dir = template.copy();
    await run(['cache', 'add', 'docker.io', '--dir', dir]);
    fs.writeFileSync(
      path.join(dir, CACHES_FILE),
      JSON.stringify({
        caches: [{ upstream: 'docker.io', remoteUrl: 'https://registry-1.docker.io', port: 5200, ttl: '1h' }],
      }),
    );
    expect(() => readMaterial(dir, { requireCurrentCertificates: false })).toThrow(
      `${path.join(dir, CACHES_FILE)} and ${path.join(dir, MATERIAL_FILES.registriesYaml)} disagree: the docker.io cache is on port 5200, registries.yaml mirrors it to port 5100`,
    );
  });
});
