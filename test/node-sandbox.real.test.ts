import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as bcrypt from 'bcryptjs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { containerdHostsFiles } from '../lib/containerd-hosts';
import { DEFAULT_NODE_PORT, DEFAULT_REGISTRY_HOSTNAME, DEFAULT_REGISTRY_PORT, NODE_MATERIAL_MOUNT_PATH } from '../lib/defaults';
import { nodeRegistriesConfig, parseRegistriesYaml, renderRegistriesYaml } from '../lib/registries-yaml';
import { busyboxBinary, busyboxPath } from './support/busybox';
import { type NodeSandbox, startNodeSandbox } from './support/node-sandbox';
import { writeOciImage } from './support/oci-image';
import { describeReal } from './support/real-software';
import { run, type RunResult } from './support/run';

/**
 * Smoke test of the node harness, and the proof this project rests on: a k3d node (own network
 * namespace, bind-mounted /etc/hosts, real containerd 1.6 with the hosts.toml k3s would write from our
 * registries.yaml) pulls from the real registry (TLS + htpasswd) listening on a "Service IP", both by
 * the pushed name localhost:31113/... (mirror) and by container-registry.local:5000/....
 */

const TOOLS = ['ip', 'ss', 'containerd', 'ctr', 'docker-registry', 'skopeo', 'busybox', 'socat', 'openssl'];
const SERVICE_IP = '10.43.0.50';
const SERVICE_DNS_NAME = 'container-registry.container-registry.svc.cluster.local';
const REGISTRY = `${DEFAULT_REGISTRY_HOSTNAME}:${DEFAULT_REGISTRY_PORT}`;
const PUSHED = `localhost:${DEFAULT_NODE_PORT}`;
const USER = { username: 'iris', password: 'correct horse "battery" staple' };
const FILE_IN_IMAGE = 'hello/greeting.txt';
const GREETING = 'hello from the private registry\n';

const ok = (r: RunResult): RunResult => {
  expect(r.code, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`).toBe(0);
  return r;
};

/** A CA and a server certificate whose SANs cover the names this smoke test uses. */
async function makeCertificates(dir: string): Promise<void> {
  const cnf = (name: string, text: string): string => {
    writeFileSync(join(dir, name), text);
    return join(dir, name);
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  const caCnf = cnf(
    'ca.cnf',
    '[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=node-sandbox smoke test CA\n[ext]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\n',
  );
  ok(await run('openssl', ['req', '-x509', '-config', caCnf, '-extensions', 'ext', ...ec, '-keyout', join(dir, 'ca.key'), '-out', join(dir, 'ca.crt'), '-days', '2']));
  const reqCnf = cnf('server.cnf', `[req]\ndistinguished_name=dn\nprompt=no\n[dn]\nCN=${DEFAULT_REGISTRY_HOSTNAME}\n`);
  ok(await run('openssl', ['req', '-new', '-config', reqCnf, ...ec, '-keyout', join(dir, 'server.key'), '-out', join(dir, 'server.csr')]));
  const ext = cnf(
    'server-ext.cnf',
    `subjectAltName=DNS:${DEFAULT_REGISTRY_HOSTNAME},DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n`,
  );
  ok(
    await run('openssl', [
      'x509', '-req', '-in', join(dir, 'server.csr'), '-CA', join(dir, 'ca.crt'), '-CAkey', join(dir, 'ca.key'),
      '-set_serial', '2', '-days', '2', '-extfile', ext, '-out', join(dir, 'server.crt'),
    ]),
  );
}

describeReal('node sandbox: a k3d node pulls from the private registry with real containerd', TOOLS, () => {
  const suiteStart = Date.now();
  let node: NodeSandbox | undefined;
  let work = '';
  let registryLogs: () => string = () => '';

  /** Node paths (/registry/...) → where this test keeps the files. */
  const mapPath = (p: string): string => p.replace(`${NODE_MATERIAL_MOUNT_PATH}/certs/`, `${join(work, 'certs')}/`);
  const sandbox = (): NodeSandbox => {
    if (node === undefined) throw new Error('sandbox not started');
    return node;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'node-sandbox-smoke-'));
    const certs = join(work, 'certs');
    mkdirSync(certs);
    await makeCertificates(certs);
    writeFileSync(join(work, 'htpasswd'), `${USER.username}:${bcrypt.hashSync(USER.password, 5)}\n`);
    writeFileSync(join(work, 'registry.yml'), 'version: 0.1\n');

    node = await startNodeSandbox({ addresses: [`${SERVICE_IP}/32`], dns: { records: { [SERVICE_DNS_NAME]: SERVICE_IP } } });
    console.log(`node sandbox ${node.name}: timings ${JSON.stringify(node.timings)} ms`);

    const registry = await node.spawnInNode('docker-registry', ['serve', join(work, 'registry.yml')], {
      env: {
        REGISTRY_HTTP_ADDR: `${SERVICE_IP}:${DEFAULT_REGISTRY_PORT}`,
        REGISTRY_HTTP_SECRET: 'node-sandbox-smoke',
        REGISTRY_HTTP_TLS_CERTIFICATE: join(certs, 'server.crt'),
        REGISTRY_HTTP_TLS_KEY: join(certs, 'server.key'),
        REGISTRY_AUTH: 'htpasswd',
        REGISTRY_AUTH_HTPASSWD_REALM: 'node-sandbox',
        REGISTRY_AUTH_HTPASSWD_PATH: join(work, 'htpasswd'),
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(work, 'registry-data'),
      },
      readyListen: { host: SERVICE_IP, port: DEFAULT_REGISTRY_PORT },
    });
    registryLogs = registry.output;
    // The NodePort stand-in: localhost:31113 on the node forwards to the Service IP.
    await node.spawnInNode(
      'socat',
      [`TCP-LISTEN:${DEFAULT_NODE_PORT},bind=127.0.0.1,fork,reuseaddr`, `TCP:${SERVICE_IP}:${DEFAULT_REGISTRY_PORT}`],
      { readyListen: { host: '127.0.0.1', port: DEFAULT_NODE_PORT } },
    );

    // Push as the desktop does, to localhost:31113 (from inside the node: it is the only place it listens).
    const image = writeOciImage(join(work, 'image'), { files: { [FILE_IN_IMAGE]: GREETING }, cmd: ['/bin/true'] });
    const skopeoHome = join(work, 'skopeo-home');
    const skopeoCerts = join(work, 'skopeo-certs'); // ca.crt only: skopeo takes *.key files as client keys
    mkdirSync(skopeoHome);
    mkdirSync(skopeoCerts);
    copyFileSync(join(certs, 'ca.crt'), join(skopeoCerts, 'ca.crt'));
    writeFileSync(join(skopeoHome, 'auth.json'), '{}');
    const push = await node.execInNode(
      'skopeo',
      [
        '--insecure-policy', '--tmpdir', skopeoHome, 'copy', '--authfile', join(skopeoHome, 'auth.json'),
        '--dest-creds', `${USER.username}:${USER.password}`, '--dest-cert-dir', skopeoCerts,
        `oci:${image.dir}:latest`, `docker://${PUSHED}/hello:latest`,
      ],
      { env: { HOME: skopeoHome, XDG_RUNTIME_DIR: skopeoHome, REGISTRY_AUTH_FILE: join(skopeoHome, 'auth.json') }, timeoutMs: 60_000 },
    );
    ok(push);

    // hosts.toml exactly as k3s would render it from the registries.yaml this project writes.
    const yamlText = renderRegistriesYaml(
      nodeRegistriesConfig({
        hostname: DEFAULT_REGISTRY_HOSTNAME,
        registryPort: DEFAULT_REGISTRY_PORT,
        nodePort: DEFAULT_NODE_PORT,
        credentials: USER,
        caFile: `${NODE_MATERIAL_MOUNT_PATH}/certs/ca.crt`,
      }),
    );
    node.writeHostsToml(containerdHostsFiles(parseRegistriesYaml(yamlText), { mapPath }));
  });

  afterAll(async () => {
    try {
      await node?.dispose();
    } finally {
      if (work !== '') rmSync(work, { recursive: true, force: true });
      console.log(`node sandbox smoke suite: ${Date.now() - suiteStart} ms in all`);
    }
  });

  it('answers the Service DNS name inside the node (busybox nslookup), and follows a change', async () => {
    const n = sandbox();
    const first = ok(await n.execInNode('busybox', ['nslookup', SERVICE_DNS_NAME]));
    expect(first.stdout).toContain(`Name:\t${SERVICE_DNS_NAME}\nAddress: ${SERVICE_IP}\n`);
    n.setDnsRecords({ [SERVICE_DNS_NAME]: '10.43.0.51' });
    expect(ok(await n.execInNode('busybox', ['nslookup', SERVICE_DNS_NAME])).stdout).toContain('Address: 10.43.0.51\n');
    n.setDnsRecords({ [SERVICE_DNS_NAME]: SERVICE_IP });
    const unknown = await n.execInNode('busybox', ['nslookup', 'nothing.example']);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toContain("** server can't find nothing.example: NXDOMAIN");
  });

  it("has a bind-mounted /etc/hosts like a k3d node; the DaemonSet's script writes the Service IP into it", async () => {
    const n = sandbox();
    const sed = await n.execInNode('sed', ['-i', 's/^#nothing//', '/etc/hosts']);
    expect(sed.code).not.toBe(0);
    expect(sed.stderr).toContain('Device or resource busy');

    // The real node-hosts.sh, once, as the DaemonSet runs it: busybox applets, Service found by DNS name.
    const script = join(work, 'node-hosts.sh');
    writeFileSync(script, readFileSync(join(__dirname, '..', 'lib', 'node-hosts.sh'), 'utf8'));
    const before = n.readHosts();
    const update = await n.execInNode(busyboxBinary(), ['sh', script], {
      env: { PATH: busyboxPath(), HOSTS_FILE: '/etc/hosts', REGISTRY_HOSTNAME: DEFAULT_REGISTRY_HOSTNAME, SERVICE_DNS_NAME, RUN_ONCE: '1' },
    });
    ok(update);
    expect(n.readHosts()).toBe(`${before}${SERVICE_IP} ${DEFAULT_REGISTRY_HOSTNAME}\n`);
    const lookup = ok(await n.execInNode('getent', ['hosts', DEFAULT_REGISTRY_HOSTNAME])).stdout;
    expect(lookup).toMatch(new RegExp(`^${SERVICE_IP.replace(/\./g, '\\.')}\\s+${DEFAULT_REGISTRY_HOSTNAME}`));
    expect(ok(await n.execInNode('getent', ['hosts', 'host.k3d.internal'])).stdout).toMatch(/^172\.18\.0\.1\s/);
  });

  it('pulls the pushed name through the localhost:31113 mirror, and the node name directly', async () => {
    const n = sandbox();
    for (const ref of [`${PUSHED}/hello:latest`, `${REGISTRY}/hello:latest`]) {
      const t = Date.now();
      ok(await n.pullImage(ref, { credentials: USER }));
      console.log(`ctr images pull ${ref}: ${Date.now() - t} ms`);
      const file = ok(await n.readImageFile(ref, FILE_IN_IMAGE));
      expect(file.stdout).toBe(GREETING);
    }
    // The mirror really was used: containerd asked container-registry.local:5000 on behalf of localhost:31113.
    expect(registryLogs()).toContain(`"HEAD /v2/hello/manifests/latest?ns=localhost%3A${DEFAULT_NODE_PORT} HTTP/1.1" 200`);
    const images = ok(await n.ctr(['images', 'ls', '-q'])).stdout.split('\n');
    expect(images).toEqual(expect.arrayContaining([`${PUSHED}/hello:latest`, `${REGISTRY}/hello:latest`]));
  });

  it("fails with containerd's own errors: no hosts entry, wrong password, unknown CA", async () => {
    const n = sandbox();
    const pullError = async (ref: string, options: Parameters<NodeSandbox['pullImage']>[1]): Promise<string> => {
      const r = await n.pullImage(ref, options);
      expect(r.code, r.stdout).not.toBe(0);
      const line = r.stderr.split('\n').find((l) => l.startsWith('ctr: ')) ?? r.stderr;
      console.log(`${ref}: ${line}`);
      return line;
    };

    const hosts = n.readHosts();
    n.writeHosts(hosts.split('\n').filter((l) => !l.includes(DEFAULT_REGISTRY_HOSTNAME)).join('\n'));
    try {
      expect(await pullError(`${REGISTRY}/hello:latest`, { credentials: USER })).toBe(
        `ctr: failed to resolve reference "${REGISTRY}/hello:latest": failed to do request: Head "https://${REGISTRY}/v2/hello/manifests/latest": dial tcp: lookup ${DEFAULT_REGISTRY_HOSTNAME}: no such host`,
      );
      expect(await pullError(`${PUSHED}/hello:latest`, { credentials: USER })).toContain(`lookup ${DEFAULT_REGISTRY_HOSTNAME}: no such host`);
    } finally {
      n.writeHosts(hosts);
    }

    expect(await pullError(`${PUSHED}/hello:latest`, { credentials: { ...USER, password: 'wrong' } })).toBe(
      `ctr: failed to resolve reference "${PUSHED}/hello:latest": pulling from host ${REGISTRY} failed with status code [manifests latest]: 401 Unauthorized`,
    );

    // The same registries.yaml without ca_file: containerd uses the system roots.
    const noCa = join(n.dir, 'certs.d-no-ca');
    n.writeHostsToml(
      containerdHostsFiles({
        mirrors: { [PUSHED]: { endpoint: [`https://${REGISTRY}`] }, [REGISTRY]: { endpoint: [`https://${REGISTRY}`] } },
      }),
      noCa,
    );
    expect(await pullError(`${REGISTRY}/hello:latest`, { credentials: USER, hostsDir: noCa })).toBe(
      `ctr: failed to resolve reference "${REGISTRY}/hello:latest": failed to do request: Head "https://${REGISTRY}/v2/hello/manifests/latest": x509: certificate signed by unknown authority`,
    );

    // configs keyed by the mirror name instead of the endpoint host (k3s#9839, #13215): same failure.
    const misKeyed = join(n.dir, 'certs.d-mis-keyed');
    n.writeHostsToml(
      containerdHostsFiles(
        {
          mirrors: { [PUSHED]: { endpoint: [`https://${REGISTRY}`] } },
          configs: { [PUSHED]: { tls: { ca_file: `${NODE_MATERIAL_MOUNT_PATH}/certs/ca.crt` } } },
        },
        { mapPath },
      ),
      misKeyed,
    );
    expect(await pullError(`${PUSHED}/hello:latest`, { credentials: USER, hostsDir: misKeyed })).toContain(
      `Head "https://${REGISTRY}/v2/hello/manifests/latest?ns=localhost%3A${DEFAULT_NODE_PORT}": x509: certificate signed by unknown authority`,
    );
  });
});
