import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import {
  type Credentials,
  MATERIAL_FILES,
  type RegistriesConfig,
  createCertificateAuthority,
  createServerCertificate,
  readMaterial,
} from '../lib';
import { containerdHostsFiles } from '../lib/containerd-hosts';
import { NODE_MATERIAL_MOUNT_PATH } from '../lib/defaults';
import { k3dClusterConfig } from '../lib/k3d-config';
import { CONTAINERD_HOSTS_DIR, NODE_CA_FILE, NODE_DIR, nodeCredentialsOf } from '../lib/material';
import { parseRegistriesYaml } from '../lib/registries-yaml';
import { busyboxBinary, busyboxPath } from './support/busybox';
import { findObject } from './support/fixture-material';
import { K3D_NODE_HOSTS, type NodeProcess, type NodeSandbox, startNodeSandbox } from './support/node-sandbox';
import { writeOciImage } from './support/oci-image';
import { describeReal } from './support/real-software';
import { registryEnvFromManifests } from './support/registry-from-manifests';
import type { RunResult } from './support/run';
import { skopeoCopy } from './support/skopeo';
import { type SynthesizedApp, synthInProcess } from './support/synth-app';

/**
 * The node half of the guide, with real parts: one k3d node played by a network namespace with a
 * bind-mounted /etc/hosts, the synthesized registry listening on a "Service ClusterIP", socat as the
 * NodePort, a DNS server answering the Service name, the DaemonSet's own script, and real containerd
 * pulling through the hosts directory that k3s derives from the synthesized registries.yaml.
 */
const TOOLS = ['ip', 'ss', 'containerd', 'ctr', 'docker-registry', 'skopeo', 'busybox', 'flock', 'socat'];
const SERVICE_IP = '10.43.0.50';
/** Where a registry with a certificate for another name (signed by our CA's key) listens. */
const ROGUE_IP = '10.43.0.60';
const MOVED_SERVICE_IP = '10.43.0.77';
const GREETING = 'hello world\n';

describeReal('a k3d node pulls the pushed image through the synthesized registries.yaml', TOOLS, () => {
  const started = Date.now();
  let work: string;
  let app: SynthesizedApp;
  let node: NodeSandbox;
  let registries: RegistriesConfig;
  let credentials: Credentials;
  let hostsScript: string;
  let scriptEnv: Record<string, string>;
  let serviceDnsName: string;
  let nodeName: string; // container-registry.local:5000
  let pushedName: string; // localhost:31113
  const materialDir = () => join(work, 'registry');
  /** The k3d volume's source and target, from the generated k3d config: what a node really mounts. */
  const nodeVolume = () => {
    const [source, target, mode] = k3dClusterConfig({ materialDir: materialDir() }).volumes[0].volume.split(':');
    return { source, target, mode };
  };
  /** Node paths under /registry → the directory the k3d volume mounts there. */
  const mapPath = (path: string) => path.replace(`${nodeVolume().target}/`, `${nodeVolume().source}/`);

  const ok = (result: RunResult) => {
    expect(result.code, `stdout: ${result.stdout}\nstderr: ${result.stderr}`).toBe(0);
    return result;
  };
  /** The hosts directory k3s writes from a registries.yaml, CA paths mapped to this machine. */
  const hostsDirFor = (config: RegistriesConfig, name: string) => {
    const dir = join(work, name);
    node.writeHostsToml(containerdHostsFiles(config, { mapPath }), dir);
    return dir;
  };
  const pullFails = async (ref: string, creds: Credentials, hostsDir?: string) => {
    const result = await node.pullImage(ref, { credentials: creds, hostsDir });
    expect(result.code).not.toBe(0);
    return result.stderr.split('\n').find((line) => line.startsWith('ctr: ')) ?? result.stderr;
  };
  const runHostsScript = (env: Record<string, string> = {}) =>
    node.execInNode(busyboxBinary(), ['sh', hostsScript], { env: { ...scriptEnv, RUN_ONCE: '1', ...env } });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'node-pull-'));
    app = await synthInProcess(materialDir(), join(work, 'dist'));
    registries = parseRegistriesYaml(readFileSync(join(materialDir(), MATERIAL_FILES.registriesYaml), 'utf8'));
    credentials = nodeCredentialsOf(registries);

    const service = findObject(app.manifests, 'Service');
    const { port, nodePort } = service.spec.ports[0];
    serviceDnsName = `${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`;
    nodeName = `container-registry.local:${port}`;
    pushedName = `localhost:${nodePort}`;

    node = await startNodeSandbox({
      addresses: [`${SERVICE_IP}/32`, `${MOVED_SERVICE_IP}/32`, `${ROGUE_IP}/32`],
      dns: { records: { [serviceDnsName]: SERVICE_IP } },
    });
    writeFileSync(join(work, 'registry.yml'), 'version: 0.1\n');
    await node.spawnInNode('docker-registry', ['serve', join(work, 'registry.yml')], {
      env: registryEnvFromManifests(app.manifests, join(work, 'pod'), `${SERVICE_IP}:${port}`),
      readyListen: { host: SERVICE_IP, port },
    });
    // kube-proxy's NodePort, as the k3d load balancer reaches it: localhost:31113 → the Service.
    await node.spawnInNode(
      'socat',
      [`TCP-LISTEN:${nodePort},bind=127.0.0.1,fork,reuseaddr`, `TCP:${SERVICE_IP}:${port}`],
      {
        readyListen: { host: '127.0.0.1', port: nodePort },
      },
    );

    // The desktop pushes to localhost:31113 with the generated credentials and CA.
    const image = writeOciImage(join(work, 'image'), { files: { 'hello.txt': GREETING }, cmd: ['cat', '/hello.txt'] });
    mkdirSync(join(work, 'trust'));
    copyFileSync(join(materialDir(), MATERIAL_FILES.caCertificate), join(work, 'trust', 'ca.crt'));
    ok(
      await skopeoCopy({
        from: `oci:${image.dir}:latest`,
        to: `docker://${pushedName}/hello-world-example:latest`,
        creds: credentials,
        certDir: join(work, 'trust'),
        runner: node.execInNode,
      }),
    );

    // The DaemonSet's script and environment, as synthesized; the kubelet's parts done by hand: the node
    // file mounted at HOSTS_FILE is the node's /etc/hosts, and $(..._SERVICE_HOST) is the Service IP.
    hostsScript = join(work, 'node-hosts.sh');
    writeFileSync(
      hostsScript,
      findObject(app.manifests, 'ConfigMap', 'container-registry-node-hosts').data['node-hosts.sh'],
    );
    const container = findObject(app.manifests, 'DaemonSet').spec.template.spec.containers[0];
    scriptEnv = { PATH: busyboxPath(), TMPDIR: work };
    for (const variable of container.env) scriptEnv[variable.name] = variable.value;
    expect(scriptEnv.SERVICE_DNS_NAME).toBe(serviceDnsName);
    scriptEnv.HOSTS_FILE = '/etc/hosts';
    scriptEnv.SERVICE_IP_FALLBACK = SERVICE_IP;
  });

  // Every test starts from a node whose /etc/hosts the DaemonSet's script has set, whatever ran before.
  beforeEach(async () => {
    node.setDnsRecords({ [serviceDnsName]: SERVICE_IP });
    node.writeHosts(K3D_NODE_HOSTS);
    ok(await runHostsScript());
  });

  afterAll(async () => {
    try {
      await node?.dispose();
    } finally {
      if (work) rmSync(work, { recursive: true, force: true });
      console.log(`node pull suite: ${Date.now() - started} ms`);
    }
  });

  it("the DaemonSet's script maps container-registry.local to the Service IP in the bind-mounted /etc/hosts", async () => {
    expect((await node.execInNode('sed', ['-i', 's/^#x//', '/etc/hosts'])).stderr).toContain('Device or resource busy');
    // A k3d hostAliases line that also names the registry: ours must come first to win the lookup.
    const alias = '192.168.1.10 nas.lan container-registry.local\n';
    node.writeHosts(K3D_NODE_HOSTS + alias);
    ok(await runHostsScript());
    expect(node.readHosts()).toBe(`${K3D_NODE_HOSTS}${SERVICE_IP} container-registry.local\n${alias}`);
    expect(ok(await node.execInNode('getent', ['hosts', 'container-registry.local'])).stdout).toMatch(
      /^10\.43\.0\.50\s+container-registry\.local/,
    );
    expect(ok(await node.execInNode('getent', ['hosts', 'host.k3d.internal'])).stdout).toMatch(/^172\.18\.0\.1\s/);
  });

  it('mounts only the node directory, read-only: it holds no key, htpasswd or password but the pull credential', () => {
    const volume = nodeVolume();
    expect(volume).toEqual({ source: join(materialDir(), NODE_DIR), target: NODE_MATERIAL_MOUNT_PATH, mode: 'ro' });
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name));
        else files.push(join(dir, entry.name));
      }
    };
    walk(volume.source);
    expect(files.map((file) => file.slice(volume.source.length + 1)).sort()).toEqual([
      `certs.d/${nodeName}/hosts.toml`,
      `certs.d/${pushedName}/hosts.toml`,
      'certs/ca.crt',
      'certs/registries.yaml',
    ]);
    const htpasswd = readFileSync(join(materialDir(), MATERIAL_FILES.htpasswd), 'utf8');
    for (const file of files) {
      const content = readFileSync(file, 'utf8');
      expect(content, file).not.toContain('PRIVATE KEY');
      expect(content, file).not.toMatch(/\$2[aby]\$/); // no bcrypt hash, so no htpasswd line
      for (const line of htpasswd.trim().split('\n')) expect(content, file).not.toContain(line);
      // The nodes' own pull credential is the one secret a node needs, in registries.yaml only.
      if (!file.endsWith('registries.yaml')) expect(content, file).not.toContain(credentials.password);
    }
    // ...and nothing of the desktop's: the keys and the password file stay outside the mount.
    for (const relativePath of [MATERIAL_FILES.caKey, MATERIAL_FILES.tlsKey, MATERIAL_FILES.password])
      expect(join(materialDir(), relativePath).startsWith(`${volume.source}/`)).toBe(false);
  });

  it('containerd refuses a registry whose certificate is for another name, though signed by our CA key', async () => {
    const port = Number(nodeName.split(':')[1]);
    const material = readMaterial(materialDir());
    const rogue = createServerCertificate({
      ca: material.ca,
      subjectAltNames: { dnsNames: ['evil.example'], ipAddresses: [] },
    });
    const rogueDir = join(work, 'rogue');
    mkdirSync(rogueDir, { recursive: true });
    writeFileSync(join(rogueDir, 'tls.crt'), rogue.certificatePem);
    writeFileSync(join(rogueDir, 'tls.key'), rogue.privateKeyPem, { mode: 0o600 });
    writeFileSync(join(rogueDir, 'registry.yml'), 'version: 0.1\n');
    const registry = await node.spawnInNode('docker-registry', ['serve', join(rogueDir, 'registry.yml')], {
      env: {
        REGISTRY_HTTP_ADDR: `${ROGUE_IP}:${port}`,
        REGISTRY_HTTP_TLS_CERTIFICATE: join(rogueDir, 'tls.crt'),
        REGISTRY_HTTP_TLS_KEY: join(rogueDir, 'tls.key'),
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(rogueDir, 'storage'),
      },
      readyListen: { host: ROGUE_IP, port },
    });
    try {
      node.writeHosts(`${K3D_NODE_HOSTS}${ROGUE_IP} evil.example\n`);
      const rogueHost = `evil.example:${port}`;
      const config: RegistriesConfig = {
        mirrors: {},
        configs: { [rogueHost]: { tls: { ca_file: NODE_CA_FILE } } },
      };
      expect(
        await pullFails(`${rogueHost}/hello-world-example:latest`, credentials, hostsDirFor(config, 'certs.d-rogue')),
      ).toContain(
        'x509: a root or intermediate certificate is not authorized to sign for this name: DNS name "evil.example" is not permitted by any constraint',
      );
    } finally {
      await registry.stop();
    }
  });

  it('emits the containerd hosts directory k3s would write (for kind and plain containerd)', () => {
    for (const file of containerdHostsFiles(registries)) {
      expect(readFileSync(join(materialDir(), CONTAINERD_HOSTS_DIR, file.host, 'hosts.toml'), 'utf8')).toBe(
        file.content,
      );
    }
  });

  it('pulls the pushed name (via the mirror) and the node name through the emitted certs.d, and the layer holds the hello-world file', async () => {
    // The material's own certs.d, as a kind node mounts it; only the CA path is mapped to this machine.
    const hostsDir = join(work, 'emitted-certs.d');
    node.writeHostsToml(
      containerdHostsFiles(registries).map((file) => ({
        host: file.host,
        content: mapPath(readFileSync(join(materialDir(), CONTAINERD_HOSTS_DIR, file.host, 'hosts.toml'), 'utf8')),
      })),
      hostsDir,
    );
    for (const ref of [`${pushedName}/hello-world-example:latest`, `${nodeName}/hello-world-example:latest`]) {
      ok(await node.pullImage(ref, { credentials, hostsDir }));
      expect(ok(await node.readImageFile(ref, 'hello.txt')).stdout).toBe(GREETING);
    }
  });

  it('fails when registries.yaml has the wrong password: 401 from the registry', async () => {
    const wrong = parseRegistriesYaml(
      readFileSync(join(materialDir(), MATERIAL_FILES.registriesYaml), 'utf8').replace(
        `password: "${credentials.password}"`,
        'password: "wrong"',
      ),
    );
    expect(nodeCredentialsOf(wrong).password).toBe('wrong');
    expect(
      await pullFails(
        `${pushedName}/hello-world-example:latest`,
        nodeCredentialsOf(wrong),
        hostsDirFor(wrong, 'certs.d-creds'),
      ),
    ).toBe(
      `ctr: failed to resolve reference "${pushedName}/hello-world-example:latest": pulling from host ${nodeName} failed with status code [manifests latest]: 401 Unauthorized`,
    );
  });

  it('fails TLS when registries.yaml names a CA that is not ours', async () => {
    const otherCa = join(nodeVolume().source, 'certs', 'other-ca.crt');
    writeFileSync(otherCa, createCertificateAuthority().certificatePem);
    const config: RegistriesConfig = {
      ...registries,
      configs: {
        [nodeName]: {
          ...registries.configs![nodeName],
          tls: { ca_file: `${NODE_MATERIAL_MOUNT_PATH}/certs/other-ca.crt` },
        },
      },
    };
    // Go adds why: the foreign CA has our CA's name, but its signature does not verify.
    try {
      expect(
        await pullFails(`${nodeName}/hello-world-example:latest`, credentials, hostsDirFor(config, 'certs.d-ca')),
      ).toContain(
        `ctr: failed to resolve reference "${nodeName}/hello-world-example:latest": failed to do request: Head "https://${nodeName}/v2/hello-world-example/manifests/latest": x509: certificate signed by unknown authority`,
      );
    } finally {
      rmSync(otherCa);
    }
  });

  it('fails TLS when configs are keyed by the mirror name instead of the endpoint', async () => {
    const config: RegistriesConfig = {
      mirrors: registries.mirrors,
      configs: { [pushedName]: registries.configs![nodeName] },
    };
    expect(
      await pullFails(
        `${pushedName}/hello-world-example:latest`,
        credentials,
        hostsDirFor(config, 'certs.d-mis-keyed'),
      ),
    ).toContain('x509: certificate signed by unknown authority');
  });

  it('fails to resolve the registry when /etc/hosts has no entry', async () => {
    node.writeHosts(K3D_NODE_HOSTS);
    expect(
      await pullFails(
        `${nodeName}/hello-world-example:latest`,
        credentials,
        hostsDirFor(registries, 'certs.d-no-hosts'),
      ),
    ).toBe(
      `ctr: failed to resolve reference "${nodeName}/hello-world-example:latest": failed to do request: Head "https://${nodeName}/v2/hello-world-example/manifests/latest": dial tcp: lookup container-registry.local: no such host`,
    );
  });

  it('does not write /etc/hosts when nothing changed (inode and mtime kept)', async () => {
    ok(await runHostsScript());
    const past = new Date('2020-01-01T00:00:00Z');
    utimesSync(node.hostsFile, past, past);
    const before = statSync(node.hostsFile);
    const result = ok(await runHostsScript());
    expect(result.stdout).toBe('');
    const after = statSync(node.hostsFile);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
  });

  it('never duplicates the line when copies race', async () => {
    node.writeHosts(K3D_NODE_HOSTS);
    const results = await Promise.all(Array.from({ length: 6 }, () => runHostsScript()));
    results.forEach(ok);
    expect(node.readHosts()).toBe(`${K3D_NODE_HOSTS}${SERVICE_IP} container-registry.local\n`);
  });

  it('keeps the line when DNS fails, never falling back to the stale Service variable', async () => {
    node.setDnsRecords({});
    const result = ok(await runHostsScript({ SERVICE_IP_FALLBACK: '10.43.0.99' }));
    expect(result.stdout).toContain(`cannot resolve ${serviceDnsName}: keeping ${SERVICE_IP}`);
    expect(node.readHosts()).toBe(`${K3D_NODE_HOSTS}${SERVICE_IP} container-registry.local\n`);
  });

  it('follows the Service to a new IP within one period, and pulls from it there', async () => {
    let loop: NodeProcess | undefined;
    const port = Number(nodeName.split(':')[1]);
    try {
      loop = await node.spawnInNode(busyboxBinary(), ['sh', hostsScript], {
        env: { ...scriptEnv, INTERVAL_SECONDS: '1' },
        readyOutput: /keeping/,
      });
      // The Service is recreated with a new ClusterIP: the registry moves there and DNS answers the new IP.
      await node.spawnInNode(
        'socat',
        [`TCP-LISTEN:${port},bind=${MOVED_SERVICE_IP},fork,reuseaddr`, `TCP:${SERVICE_IP}:${port}`],
        {
          readyListen: { host: MOVED_SERVICE_IP, port },
        },
      );
      node.setDnsRecords({ [serviceDnsName]: MOVED_SERVICE_IP });
      const changedAt = Date.now();
      while (!node.readHosts().includes(`${MOVED_SERVICE_IP} container-registry.local\n`)) {
        // One period (1 s), plus 1 s for the lookup and write on a loaded machine.
        if (Date.now() - changedAt > 2_000)
          throw new Error(
            `the line did not follow within one period (1 s) + 1 s:\n${node.readHosts()}\n${loop.output()}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      console.log(`hosts line followed the new Service IP after ${Date.now() - changedAt} ms (period 1 s)`);
      // The script logs right after it writes: give the log line a moment to arrive.
      while (!loop.output().includes(`wrote '${MOVED_SERVICE_IP} container-registry.local' to /etc/hosts`)) {
        if (Date.now() - changedAt > 5_000) throw new Error(`no log line for the change:\n${loop.output()}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(node.readHosts()).toBe(`${K3D_NODE_HOSTS}${MOVED_SERVICE_IP} container-registry.local\n`);
      ok(await node.ctr(['images', 'rm', `${nodeName}/hello-world-example:latest`]));
      ok(
        await node.pullImage(`${nodeName}/hello-world-example:latest`, {
          credentials,
          hostsDir: hostsDirFor(registries, 'certs.d-moved'),
        }),
      );
    } finally {
      await loop?.stop();
    }
  });

  it('puts the line back within one period after Docker rebuilds /etc/hosts or k3d re-sorts it', async () => {
    let loop: NodeProcess | undefined;
    const ours = `${SERVICE_IP} container-registry.local\n`;
    /** Waits for our line, at most one period (1 s) plus 1 s for a loaded machine; returns how long it took. */
    const lineBack = async (since: number): Promise<number> => {
      while (!node.readHosts().includes(ours)) {
        if (Date.now() - since > 2_000)
          throw new Error(
            `the line did not come back within one period (1 s) + 1 s:\n${node.readHosts()}\n${loop?.output()}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      return Date.now() - since;
    };
    try {
      loop = await node.spawnInNode(busyboxBinary(), ['sh', hostsScript], {
        env: { ...scriptEnv, INTERVAL_SECONDS: '1' },
        readyOutput: /keeping/,
      });
      // Docker, on a node container's restart: the file is written anew, without our line.
      node.writeHosts(K3D_NODE_HOSTS);
      const afterRestart = await lineBack(Date.now());
      // k3d cluster start: every line re-sorted and de-duplicated, in place.
      const resorted = [...new Set(node.readHosts().trimEnd().split('\n'))].sort().join('\n');
      node.writeHosts(`${resorted}\n`);
      await new Promise((resolve) => setTimeout(resolve, 1_500)); // one period: the loop leaves it be
      expect(node.readHosts()).toBe(`${resorted}\n`);
      expect(node.readHosts().match(/container-registry\.local/g)).toHaveLength(1);
      // k3d's de-duplication after a restart that lost the line: the same.
      node.writeHosts(`${[...new Set(K3D_NODE_HOSTS.trimEnd().split('\n'))].sort().join('\n')}\n`);
      const afterStart = await lineBack(Date.now());
      expect(ok(await node.execInNode('getent', ['hosts', 'container-registry.local'])).stdout).toMatch(
        /^10\.43\.0\.50\s+container-registry\.local/,
      );
      console.log(`hosts line back after a rebuild in ${afterRestart} ms and ${afterStart} ms (period 1 s)`);
    } finally {
      await loop?.stop();
    }
  });
});
