import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { Chart, Testing } from 'cdk8s';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type IRegistryService, NodeHostsDaemonSet, type NodeHostsDaemonSetProps } from '../lib';
import { busyboxBinary, busyboxPath, runUnderBusybox } from './support/busybox';
import { customFixtureMaterial, findObject, fixtureMaterial } from './support/fixture-material';
import { describeReal } from './support/real-software';

const registry: IRegistryService = {
  serviceName: 'container-registry',
  serviceNamespace: 'container-registry',
  port: 5000,
};

function synth(props: Partial<NodeHostsDaemonSetProps> = {}, namespace = 'container-registry') {
  const chart = new Chart(Testing.app(), 'test', { namespace, disableResourceNameHashes: true });
  new NodeHostsDaemonSet(chart, 'NodeHosts', { registry, ...props });
  return Testing.synth(chart);
}

describe('NodeHostsDaemonSet', () => {
  it('defaults', () => {
    expect(synth()).toMatchSnapshot();
  });

  it('custom', () => {
    expect(
      synth({ hostname: 'images.local', intervalSeconds: 5, image: 'busybox:1.36.1', name: 'images-hosts' }),
    ).toMatchSnapshot();
  });

  it('embeds the script file verbatim, and its hash in the pod template so a changed script rolls the pods', () => {
    const manifests = synth();
    const script = readFileSync(join(__dirname, '..', 'lib', 'node-hosts.sh'), 'utf8');
    expect(findObject(manifests, 'ConfigMap').data['node-hosts.sh']).toBe(script);
    const annotations = findObject(manifests, 'DaemonSet').spec.template.metadata.annotations;
    expect(annotations['cdk8s-private-registry/script-sha256']).toBe(createHash('sha256').update(script).digest('hex'));
  });

  it('runs on every node, control plane included', () => {
    const pod = findObject(synth(), 'DaemonSet').spec.template.spec;
    expect(pod.tolerations).toEqual([{ operator: 'Exists' }]);
  });

  it('mounts only the node /etc/hosts file, unprivileged, every capability dropped, with limits', () => {
    const pod = findObject(synth(), 'DaemonSet').spec.template.spec;
    const hostPaths = pod.volumes.filter((volume: any) => volume.hostPath !== undefined);
    expect(hostPaths).toEqual([{ name: 'node-hosts-file', hostPath: { path: '/etc/hosts', type: 'File' } }]);
    const container = pod.containers[0];
    expect(container.image).toBe('busybox:1.37.0');
    expect(container.securityContext).toEqual({
      runAsUser: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.resources.limits).toEqual({ cpu: '50m', memory: '32Mi' });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('looks the Service up by DNS, falling back to the injected Service variable in the same namespace', () => {
    const env = findObject(synth(), 'DaemonSet').spec.template.spec.containers[0].env;
    expect(env).toEqual([
      { name: 'HOSTS_FILE', value: '/host/etc/hosts' },
      { name: 'REGISTRY_HOSTNAME', value: 'container-registry.local' },
      { name: 'SERVICE_DNS_NAME', value: 'container-registry.container-registry.svc.cluster.local' },
      { name: 'SERVICE_IP_FALLBACK', value: '$(CONTAINER_REGISTRY_SERVICE_HOST)' },
      { name: 'INTERVAL_SECONDS', value: '30' },
    ]);
    // Service variables only exist for Services of the pod's own namespace.
    const elsewhere = findObject(synth({}, 'kube-system'), 'DaemonSet').spec.template.spec.containers[0].env;
    expect(elsewhere.map((variable: any) => variable.name)).not.toContain('SERVICE_IP_FALLBACK');
  });

  it.each([
    [
      { hostname: 'bad host' },
      `'hostname' must be a DNS hostname (dot-separated labels of letters, digits and '-'), got "bad host": pick a name like "container-registry.local"`,
    ],
    [
      { intervalSeconds: 0 },
      "'intervalSeconds' must be an integer in 1-3600, got 0: pick how many seconds to wait between lookups",
    ],
    [{ image: 'busybox' }, `'image' must name an exact version like "registry:3.1.1", got "busybox"`],
    [{ name: 'Hosts' }, `'name' must be a DNS label`],
  ] as [Partial<NodeHostsDaemonSetProps>, string][])('refuses %j', (props, message) => {
    expect(() => synth(props)).toThrow(message);
  });
});

describe('NodeHostsDaemonSet against its material and its registry', () => {
  const material = fixtureMaterial();
  const customMaterial = customFixtureMaterial();
  const hostnameOf = (manifests: any[]) =>
    findObject(manifests, 'DaemonSet').spec.template.spec.containers[0].env.find(
      (variable: any) => variable.name === 'REGISTRY_HOSTNAME',
    ).value;

  it("follows the material's registries.yaml, else the registry's hostname", () => {
    expect(hostnameOf(synth({ material: customMaterial }))).toBe('images.local');
    expect(hostnameOf(synth({ registry: { ...registry, hostname: 'images.local' } }))).toBe('images.local');
  });

  it("refuses a hostname that disagrees with the material's registries.yaml", () => {
    expect(() => synth({ material, hostname: 'images.local' })).toThrow(
      `'hostname' is "images.local" but the material's registries.yaml says "container-registry.local": the nodes would not find the registry; leave 'hostname' out to follow the material, or make new material with that value`,
    );
  });

  it("refuses a hostname that is not the registry's", () => {
    const served = { ...registry, hostname: 'container-registry.local' };
    expect(() => synth({ registry: served, hostname: 'images.local' })).toThrow(
      `'hostname' is "images.local" but 'registry' is for "container-registry.local", the name its certificate is checked for: containerd on the nodes would not reach or trust the registry; give the DaemonSet and the registry the same material, or leave 'hostname' out to follow the registry`,
    );
    expect(() => synth({ registry: served, material: customMaterial })).toThrow(
      `the material's registries.yaml says "images.local" but 'registry' is for "container-registry.local", the name its certificate is checked for`,
    );
  });
});

// What k3d writes into a node's /etc/hosts (its own entries and a hostAliases line), tab and all.
const K3D_HOSTS_BEFORE_ALIAS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  '172.18.0.3\tk3d-dev-server-0',
  '172.18.0.1 host.k3d.internal',
  '# added by k3d hostAliases',
  '',
].join('\n');
const ALIAS = '192.168.1.10 nas.lan container-registry.local\n';
const K3D_HOSTS = K3D_HOSTS_BEFORE_ALIAS + ALIAS;

describeReal(
  'the node hosts script under busybox sh',
  ['busybox', 'flock'],
  () => {
    let dir: string;
    let hostsFile: string;
    let scriptFile: string;

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'node-hosts-'));
      hostsFile = join(dir, 'hosts');
      scriptFile = join(dir, 'node-hosts.sh');
      // The script as the DaemonSet runs it: taken from the synthesized ConfigMap.
      writeFileSync(scriptFile, findObject(synth(), 'ConfigMap').data['node-hosts.sh']);
      writeFileSync(hostsFile, K3D_HOSTS);
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    // No DNS here (the node suite has a real DNS server): the Service IP comes from the fallback variable.
    const runOnce = (fallbackIp: string) =>
      runUnderBusybox(scriptFile, {
        HOSTS_FILE: hostsFile,
        SERVICE_IP_FALLBACK: fallbackIp,
        RUN_ONCE: '1',
        TMPDIR: dir,
      });
    const hosts = () => readFileSync(hostsFile, 'utf8');
    const ourLines = () =>
      hosts()
        .split('\n')
        .filter((line) => /^\S+ container-registry\.local$/.test(line));

    it('puts its line before any other line naming the host, so it wins the lookup, and keeps every line byte for byte', async () => {
      const result = await runOnce('10.43.12.34');
      expect(result.code, result.stderr).toBe(0);
      expect(hosts()).toBe(`${K3D_HOSTS_BEFORE_ALIAS}10.43.12.34 container-registry.local\n${ALIAS}`);
      expect(result.stdout).toMatch(/node-hosts: wrote '10\.43\.12\.34 container-registry\.local' to /);
    });

    it('appends its line when no line names the host', async () => {
      writeFileSync(hostsFile, K3D_HOSTS_BEFORE_ALIAS);
      expect((await runOnce('10.43.12.34')).code).toBe(0);
      expect(hosts()).toBe(`${K3D_HOSTS_BEFORE_ALIAS}10.43.12.34 container-registry.local\n`);
    });

    it('rewrites in place (same inode, as a bind-mounted file needs): moves its old line ahead of the alias', async () => {
      writeFileSync(hostsFile, `${K3D_HOSTS}10.43.1.1 container-registry.local\n10.0.0.1 after.example\n`);
      const inode = statSync(hostsFile).ino;
      const result = await runOnce('10.43.99.1');
      expect(result.code, result.stderr).toBe(0);
      expect(hosts()).toBe(
        `${K3D_HOSTS_BEFORE_ALIAS}10.43.1.1 container-registry.local\n${ALIAS}10.0.0.1 after.example\n`,
      );
      expect(statSync(hostsFile).ino).toBe(inode);
    });

    it('never lets the stale fallback variable replace the IP of a line already there', async () => {
      await runOnce('10.43.12.34');
      const before = hosts();
      const result = await runOnce('10.43.0.99');
      expect(result.code).toBe(0);
      expect(result.stdout).toContain('cannot resolve the Service: keeping 10.43.12.34');
      expect(hosts()).toBe(before);
    });

    it('writes nothing when nothing changed: mtime and inode stay, nothing is written to the log', async () => {
      await runOnce('10.43.12.34');
      const past = new Date('2020-01-01T00:00:00Z');
      utimesSync(hostsFile, past, past);
      const before = statSync(hostsFile);
      const result = await runOnce('10.43.12.34');
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).not.toContain('wrote');
      const after = statSync(hostsFile);
      expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    });

    it('collapses duplicates of its own line into one, keeping the first', async () => {
      writeFileSync(
        hostsFile,
        `${K3D_HOSTS_BEFORE_ALIAS}10.1.1.1 container-registry.local\n10.2.2.2 container-registry.local\n`,
      );
      await runOnce('10.43.12.34');
      expect(hosts()).toBe(`${K3D_HOSTS_BEFORE_ALIAS}10.1.1.1 container-registry.local\n`);
    });

    it('adds a line ending to a last line that had none, and changes nothing else', async () => {
      writeFileSync(hostsFile, '127.0.0.1 localhost');
      await runOnce('10.43.12.34');
      expect(hosts()).toBe('127.0.0.1 localhost\n10.43.12.34 container-registry.local\n');
    });

    it('leaves the file alone and fails when it cannot find the Service', async () => {
      for (const fallback of ['', '10.43.300.1', 'not-an-ip']) {
        const result = await runOnce(fallback);
        expect(result.code).toBe(1);
        expect(result.stdout).toContain('cannot resolve the Service and no fallback IP');
        expect(hosts()).toBe(K3D_HOSTS);
      }
    });

    it('never duplicates the line or loses others when copies race', async () => {
      const results = await Promise.all(Array.from({ length: 8 }, (_, index) => runOnce(`10.43.0.${index + 1}`)));
      expect(results.map((result) => result.code)).toEqual(Array(8).fill(0));
      expect(ourLines()).toHaveLength(1);
      expect(hosts()).toBe(`${K3D_HOSTS_BEFORE_ALIAS}${ourLines()[0]}\n${ALIAS}`);
    });

    it('keeps running in a loop until told to stop', async () => {
      const child = spawn(busyboxBinary(), ['sh', scriptFile], {
        env: {
          PATH: busyboxPath(),
          HOSTS_FILE: hostsFile,
          SERVICE_IP_FALLBACK: '10.43.1.1',
          INTERVAL_SECONDS: '1',
          TMPDIR: dir,
        },
      });
      const exited = new Promise((resolve) => child.on('exit', (exitCode) => resolve(exitCode)));
      try {
        await waitFor(() => ourLines().join() === '10.43.1.1 container-registry.local');
      } finally {
        child.kill('SIGTERM');
      }
      expect(await exited).toBe(0);
    });
  },
  { root: false },
);

async function waitFor(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
