import { beforeAll, describe, expect, it } from 'vitest';
import { SECRET_FILE_MODE } from '../lib/atomic-file';
import { createServerCertificate, registrySubjectAltNames } from '../lib/certificates';
import { hashPassword } from '../lib/htpasswd';
import { materialFiles, readMaterial } from '../lib/material';
import { type MaterialFile, SECRET_MATERIAL_FILES } from '../lib/material';
import {
  type Check,
  type MaterialSnapshot,
  checkDist,
  checkMaterial,
  readMaterialSnapshot,
} from '../lib/material-checks';
import { Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { RegistryChart } from '../lib';
import { addMaterialCache, setMaterialCacheCredentials } from '../lib/material-caches';
import { CACHES_FILE } from '../lib/material-caches-file';
import { nodeRegistriesConfig, renderRegistriesYaml } from '../lib/registries-yaml';
import { FIXTURE_USER, NOW, materialTemplate } from './cli/helpers';

const DAY_MS = 86_400_000;

describe('checkMaterial', () => {
  let healthy: MaterialSnapshot;
  let other: MaterialSnapshot;
  beforeAll(() => {
    healthy = readMaterialSnapshot(materialTemplate().dir);
    other = readMaterialSnapshot(materialTemplate().dir);
  });

  /** `healthy` with some files replaced (content, mode) or removed (undefined). */
  const changed = (
    files: Partial<Record<MaterialFile, { content?: string; mode?: number } | undefined>>,
  ): MaterialSnapshot => {
    const next = { ...healthy.files };
    for (const [file, change] of Object.entries(files) as [
      MaterialFile,
      { content?: string; mode?: number } | undefined,
    ][]) {
      if (change === undefined) delete next[file];
      else
        next[file] = {
          content: change.content ?? healthy.files[file]?.content ?? '',
          mode: change.mode ?? healthy.files[file]?.mode ?? 0o600,
        };
    }
    return { ...healthy, files: next };
  };
  const failures = (snapshot: MaterialSnapshot, now = NOW): Check[] =>
    checkMaterial(snapshot, { now }).filter((check) => !check.ok);
  const names = (checks: Check[]): string[] => checks.map((check) => check.name);
  const dir = (): string => healthy.dir;
  const content = (snapshot: MaterialSnapshot, file: MaterialFile): string => snapshot.files[file]?.content ?? '';

  it('passes every check on fresh material, one line per check', () => {
    const checks = checkMaterial(healthy, { now: NOW });
    expect(checks.filter((check) => !check.ok)).toEqual([]);
    expect(names(checks)).toEqual([
      'files',
      'CA certificate',
      'CA key',
      'server certificate',
      'server key',
      'registries.yaml',
      'server names',
      'CA name constraints',
      'CA expiry',
      'server certificate expiry',
      'htpasswd',
      'registries.yaml configs',
      'node credentials',
      'auth/password',
      'certs.d',
      'caches',
      'file modes',
    ]);
    expect(checks.find((check) => check.name === 'certs.d')?.detail).toBe(
      `${dir()}/node/certs.d matches registries.yaml (container-registry.local:5000, localhost:31113)`,
    );
    expect(checks.find((check) => check.name === 'registries.yaml')?.detail).toBe(
      `${dir()}/node/certs/registries.yaml: nodes pull localhost:31113 and container-registry.local:5000 from https://container-registry.local:5000`,
    );
  });

  it('a missing file is reported once, and the checks that need it are left out', () => {
    const checks = failures(changed({ 'auth/password': undefined }));
    expect(checks).toEqual([
      {
        name: 'files',
        ok: false,
        detail: `missing from ${dir()}: auth/password`,
        fix: `restore them from a backup (${dir()}.backup-*) or create new material (private-registry init --force)`,
      },
    ]);
    expect(names(checkMaterial(changed({ 'auth/password': undefined }), { now: NOW }))).not.toContain('auth/password');
  });

  it('a corrupted CA certificate', () => {
    const checks = checkMaterial(
      changed({
        'node/certs/ca.crt': { content: '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n' },
      }),
      { now: NOW },
    );
    expect(names(checks.filter((check) => !check.ok))).toEqual(['CA certificate']);
    expect(checks.find((check) => check.name === 'CA certificate')?.detail).toMatch(
      new RegExp(`^${dir()}/node/certs/ca.crt is not a PEM X.509 RSA certificate`),
    );
    expect(checks.find((check) => check.name === 'server certificate')?.detail).toContain(
      '(its issuer is not checked: the CA is unusable)',
    );
  });

  it('a CA certificate that is not a CA', () => {
    expect(failures(changed({ 'node/certs/ca.crt': { content: content(healthy, 'certs/tls.crt') } }))).toEqual([
      {
        name: 'CA certificate',
        ok: false,
        detail: `${dir()}/node/certs/ca.crt is not a CA certificate (no basicConstraints CA:TRUE)`,
        fix: `restore it from a backup (${dir()}.backup-*) or create new material (private-registry init --force)`,
      },
    ]);
  });

  it('a CA key that belongs to another CA', () => {
    expect(failures(changed({ 'certs/ca.key': { content: content(other, 'certs/ca.key') } }))).toEqual([
      {
        name: 'CA key',
        ok: false,
        detail: `${dir()}/certs/ca.key does not belong to ${dir()}/node/certs/ca.crt`,
        fix: `restore the matching pair from a backup (${dir()}.backup-*), or make a new CA: private-registry certs renew --rotate-ca`,
      },
    ]);
  });

  it('a server certificate from another CA', () => {
    const snapshot = changed({
      'certs/tls.crt': { content: content(other, 'certs/tls.crt') },
      'certs/tls.key': { content: content(other, 'certs/tls.key') },
    });
    expect(failures(snapshot)).toEqual([
      {
        name: 'server certificate',
        ok: false,
        detail: `${dir()}/certs/tls.crt is not signed by ${dir()}/node/certs/ca.crt: clients that trust this CA reject it`,
        fix: 'issue a new one from this CA: private-registry certs renew',
      },
    ]);
  });

  it('a server key that does not match', () => {
    expect(failures(changed({ 'certs/tls.key': { content: content(other, 'certs/tls.key') } }))).toEqual([
      {
        name: 'server key',
        ok: false,
        detail: `${dir()}/certs/tls.key does not belong to ${dir()}/certs/tls.crt: the registry cannot serve TLS with them`,
        fix: 'issue a new certificate and key: private-registry certs renew',
      },
    ]);
  });

  it("a certificate without the names clients use (the guide's CN-only certificate)", () => {
    const ca = {
      certificatePem: content(healthy, 'node/certs/ca.crt'),
      privateKeyPem: content(healthy, 'certs/ca.key'),
    };
    const cnOnly = createServerCertificate({
      ca,
      subjectAltNames: { dnsNames: ['docker-registry'], ipAddresses: [] },
      now: NOW,
    });
    const checks = failures(
      changed({
        'certs/tls.crt': { content: cnOnly.certificatePem },
        'certs/tls.key': { content: cnOnly.privateKeyPem },
      }),
    );
    const all = registrySubjectAltNames('container-registry.local', 'container-registry', 'container-registry');
    expect(checks).toEqual([
      {
        name: 'server names',
        ok: false,
        detail: `the certificate lacks subjectAltNames ${[...all.dnsNames, ...all.ipAddresses].join(', ')}: Go clients (containerd, k3s, skopeo) reject those names`,
        fix: 'issue a certificate with every name: private-registry certs renew',
      },
    ]);
  });

  it('warns fewer than 30 days before expiry, fails after it and before the start', () => {
    const soon = checkMaterial(healthy, { now: new Date(NOW.getTime() + 800 * DAY_MS) });
    expect(soon.filter((check) => !check.ok)).toEqual([]);
    expect(soon.filter((check) => check.warning === true)).toEqual([
      {
        name: 'server certificate expiry',
        ok: true,
        warning: true,
        detail: `${dir()}/certs/tls.crt expires in 25 days (2027-04-07T03:04:05.000Z), fewer than 30`,
        fix: 'private-registry certs renew',
      },
    ]);
    expect(failures(healthy, new Date(NOW.getTime() - DAY_MS)).map((check) => check.detail)).toEqual([
      `${dir()}/node/certs/ca.crt is not valid before 2025-01-02T02:59:05Z (is this machine's clock right?)`,
      `${dir()}/certs/tls.crt is not valid before 2025-01-02T02:59:05Z (is this machine's clock right?)`,
    ]);
    expect(failures(healthy, new Date(NOW.getTime() + 3651 * DAY_MS)).map((check) => check.detail)).toEqual([
      `${dir()}/node/certs/ca.crt expired on 2034-12-31T03:04:05Z`,
      `${dir()}/certs/tls.crt expired on 2027-04-07T03:04:05Z`,
    ]);
  });

  it('an htpasswd line that is not bcrypt', () => {
    const checks = failures(changed({ 'auth/htpasswd': { content: 'registry:$apr1$abc$def\n' } }));
    expect(names(checks)).toEqual(['htpasswd']);
    expect(checks[0].detail).toBe(
      `${dir()}/auth/htpasswd line 1 must be "user:<bcrypt hash>" ($2a$/$2b$/$2y$), got "registry:$apr1$abc$def": the registry rejects other hash types; recreate the user with bcrypt`,
    );
  });

  it('configs keyed by the mirror name instead of the endpoint', () => {
    const yaml = renderRegistriesYaml({
      mirrors: { 'localhost:31113': { endpoint: ['https://container-registry.local:5000'] } },
      configs: { 'localhost:31113': { auth: FIXTURE_USER, tls: { ca_file: '/registry/certs/ca.crt' } } },
    });
    const checks = failures(changed({ 'node/certs/registries.yaml': { content: yaml } }));
    expect(checks[0]).toEqual({
      name: 'registries.yaml configs',
      ok: false,
      detail: 'configs "localhost:31113" name a mirror, not an endpoint: k3s silently ignores those credentials and CA',
      fix: "key configs by the endpoint host:port (what the mirror's endpoint URL names), or recreate the material",
    });
    expect(checks[1]).toMatchObject({
      name: 'node credentials',
      fix: 'give configs."container-registry.local:5000".auth a username and password, or recreate the material',
    });
  });

  const registriesWith = (credentials: { username: string; password: string }): string =>
    renderRegistriesYaml(
      nodeRegistriesConfig({
        hostname: 'container-registry.local',
        registryPort: 5000,
        nodePort: 31113,
        credentials,
        caFile: '/registry/certs/ca.crt',
      }),
    );

  it("the nodes' password does not match the htpasswd", () => {
    const checks = failures(
      changed({
        'node/certs/registries.yaml': { content: registriesWith({ username: 'registry', password: 'stale' }) },
        'auth/password': { content: 'stale\n' },
      }),
    );
    expect(checks).toEqual([
      {
        name: 'node credentials',
        ok: false,
        detail: `the nodes' password for "registry" (${dir()}/node/certs/registries.yaml) does not match ${dir()}/auth/htpasswd: every pull fails with 401`,
        fix: 'give the nodes a working user: private-registry user add NEW, then private-registry user remove registry --node-user NEW --password-stdin',
      },
    ]);
  });

  it("the nodes' user is not in the htpasswd", () => {
    const htpasswd = `someone:${hashPassword('x', 4)}\n`;
    expect(failures(changed({ 'auth/htpasswd': { content: htpasswd } }))).toEqual([
      {
        name: 'node credentials',
        ok: false,
        detail: `the nodes' user "registry" (${dir()}/node/certs/registries.yaml) is not in ${dir()}/auth/htpasswd: every pull fails with 401`,
        fix: `add it with the password from ${dir()}/node/certs/registries.yaml: private-registry user add registry --password-stdin`,
      },
    ]);
  });

  it('auth/password differs from registries.yaml', () => {
    expect(failures(changed({ 'auth/password': { content: 'something else\n' } }))).toEqual([
      {
        name: 'auth/password',
        ok: false,
        detail: `${dir()}/auth/password differs from the nodes' password in ${dir()}/node/certs/registries.yaml`,
        fix: `write the password from registries.yaml (configs auth) into ${dir()}/auth/password, or restore both from a backup`,
      },
    ]);
  });

  it('keys and credentials readable by their owner only pass, however strict (0400)', () => {
    const check = checkMaterial(changed({ 'certs/ca.key': { mode: 0o400 }, 'auth/password': { mode: 0o400 } }), {
      now: NOW,
    }).find((candidate) => candidate.name === 'file modes');
    expect(check).toEqual({
      name: 'file modes',
      ok: true,
      detail:
        'keys and credentials are readable by their owner only (certs/ca.key, certs/tls.key, node/certs/registries.yaml, auth/htpasswd, auth/password)',
    });
  });

  it('the secret files are the ones materialFiles() writes 0600', () => {
    const secret = materialFiles(readMaterial(healthy.dir))
      .filter((file) => file.mode === SECRET_FILE_MODE)
      .map((file) => file.relativePath);
    expect([...SECRET_MATERIAL_FILES].sort()).toEqual(secret.sort());
  });

  describe('certs.d, the containerd hosts files rendered from registries.yaml', () => {
    const fix = 'rewrite it from registries.yaml: private-registry doctor --fix-hosts-dir';
    const why =
      "containerd outside k3s (kind, nerdctl --hosts-dir) would not use the registry's endpoint and CA from registries.yaml";
    const withHosts = (hostsFiles: Record<string, string> | undefined): MaterialSnapshot => ({
      ...healthy,
      hostsFiles,
    });

    it('missing', () => {
      expect(failures(withHosts(undefined))).toEqual([
        { name: 'certs.d', ok: false, detail: `${dir()}/node/certs.d is missing: ${why}`, fix },
      ]);
    });

    it('a host missing, one stale and one registries.yaml does not name', () => {
      const hosts = healthy.hostsFiles ?? {};
      const snapshot = withHosts({
        'localhost:31113': `${hosts['localhost:31113']}# edited\n`,
        'docker.io': 'server = "https://mirror.example"\n',
      });
      expect(failures(snapshot)).toEqual([
        {
          name: 'certs.d',
          ok: false,
          detail:
            `${dir()}/node/certs.d does not match registries.yaml: no hosts.toml for container-registry.local:5000; stale hosts.toml for localhost:31113; ` +
            `hosts.toml for docker.io, which registries.yaml does not name: ${why}`,
          fix,
        },
      ]);
    });

    it('is left out when registries.yaml is broken (that check names it)', () => {
      const checks = checkMaterial(changed({ 'node/certs/registries.yaml': { content: 'mirrors: [' } }), { now: NOW });
      expect(names(checks)).not.toContain('certs.d');
    });
  });

  it('keys and credentials readable by others', () => {
    expect(failures(changed({ 'certs/ca.key': { mode: 0o644 }, 'auth/htpasswd': { mode: 0o640 } }))).toEqual([
      {
        name: 'file modes',
        ok: false,
        detail:
          'certs/ca.key is 0644, auth/htpasswd is 0640: keys and credentials must be readable by their owner only',
        fix: `chmod 600 ${dir()}/certs/ca.key ${dir()}/auth/htpasswd`,
      },
    ]);
  });
});

describe('checkDist', () => {
  let snapshot: MaterialSnapshot;
  beforeAll(() => {
    snapshot = readMaterialSnapshot(materialTemplate().dir);
  });
  const secret = (name: string, key: string, value: string): string =>
    `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\ndata:\n  ${key}: ${Buffer.from(value).toString('base64')}\n`;
  const tlsCrt = (): string => snapshot.files['certs/tls.crt']?.content ?? '';
  const htpasswd = (): string => snapshot.files['auth/htpasswd']?.content ?? '';

  it('passes when the Secrets hold the material', () => {
    const manifests = [
      {
        file: 'dist/a.k8s.yaml',
        content: `${secret('container-registry-tls', 'tls.crt', tlsCrt())}---\n${secret('container-registry-htpasswd', 'htpasswd', htpasswd())}`,
      },
    ];
    expect(checkDist(snapshot, manifests, { distDir: 'dist' })).toEqual([
      {
        name: 'dist certificate',
        ok: true,
        detail: `Secret container-registry-tls (tls.crt) in dist matches ${snapshot.dir}/certs/tls.crt`,
      },
      {
        name: 'dist htpasswd',
        ok: true,
        detail: `Secret container-registry-htpasswd (htpasswd) in dist matches ${snapshot.dir}/auth/htpasswd`,
      },
    ]);
  });

  it('tells synth where the material and the manifests are when they are not the defaults', () => {
    const check = checkDist(snapshot, [], { distDir: 'out/my dist', materialDir: '/srv/registry' })[0];
    expect(check.fix).toBe(
      "synthesize from this material and apply it: REGISTRY_MATERIAL_DIR=/srv/registry npx cdk8s synth --output 'out/my dist' && kubectl apply -f 'out/my dist'",
    );
  });

  it('reads past YAML values that are not maps', () => {
    const manifests = [
      {
        file: 'dist/a.k8s.yaml',
        content: `plain string\n---\n[1, 2]\n---\nkind: Secret\nmetadata: x\n---\nkind: Secret\nmetadata: {name: container-registry-tls}\ndata: 7\n`,
      },
    ];
    expect(checkDist(snapshot, manifests, { distDir: 'dist' }).map((check) => check.detail)).toEqual([
      'no Secret container-registry-tls (tls.crt) in dist',
      'no Secret container-registry-htpasswd (htpasswd) in dist',
    ]);
  });

  it('fails on stale or missing Secrets and on YAML that does not parse', () => {
    const fix = 'synthesize from this material and apply it: npx cdk8s synth && kubectl apply -f dist';
    const stale = [
      { file: 'dist/a.k8s.yaml', content: secret('container-registry-htpasswd', 'htpasswd', 'old:line\n') },
    ];
    expect(checkDist(snapshot, stale, { distDir: 'dist' })).toEqual([
      { name: 'dist certificate', ok: false, detail: 'no Secret container-registry-tls (tls.crt) in dist', fix },
      {
        name: 'dist htpasswd',
        ok: false,
        detail: `Secret container-registry-htpasswd (htpasswd) in dist differs from ${snapshot.dir}/auth/htpasswd: the cluster gets other htpasswd than the material`,
        fix,
      },
    ]);
    const broken = checkDist(snapshot, [{ file: 'dist/a.k8s.yaml', content: 'a: [' }], { distDir: 'dist' });
    expect(broken).toMatchObject([{ name: 'dist manifests', ok: false, fix }]);
  });
});

describe('checkMaterial: pull-through caches', () => {
  let withCache: MaterialSnapshot;
  beforeAll(() => {
    const template = materialTemplate({ caches: [{ upstream: 'docker.io' }] });
    const dir = template.copy();
    setMaterialCacheCredentials(dir, 'docker.io', { username: 'hub-user', password: 'dckr_pat_token' });
    withCache = readMaterialSnapshot(dir);
  });
  const check = (snapshot: MaterialSnapshot, name: string): Check | undefined =>
    checkMaterial(snapshot, { now: NOW }).find((candidate) => candidate.name === name);

  it('passes when the caches file and registries.yaml agree and no token is in node/', () => {
    expect(checkMaterial(withCache, { now: NOW }).filter((candidate) => !candidate.ok)).toEqual([]);
    expect(check(withCache, 'caches')?.detail).toBe(
      `docker.io → https://container-registry.local:5100: ${withCache.dir}/${CACHES_FILE} and registries.yaml agree`,
    );
    expect(check(withCache, 'upstream credentials')?.ok).toBe(true);
    expect(check(withCache, 'file modes')?.detail).toContain(CACHES_FILE);
  });

  it('fails when registries.yaml mirrors an upstream the caches file does not hold', () => {
    const { [CACHES_FILE]: _removed, ...optionalFiles } = withCache.optionalFiles ?? {};
    const result = check({ ...withCache, optionalFiles }, 'caches');
    expect(result?.ok).toBe(false);
    expect(result?.detail).toContain('registries.yaml mirrors docker.io to port 5100, which no cache serves');
    expect(result?.fix).toContain('private-registry cache rm UPSTREAM');
  });

  it('fails when an upstream token is in a node file, naming the file but not the token', () => {
    const leaked = { ...withCache, nodeFiles: { ...withCache.nodeFiles, 'node/x.txt': 'dckr_pat_token' } };
    const result = check(leaked, 'upstream credentials');
    expect(result?.ok).toBe(false);
    expect(result?.detail).toContain(`${withCache.dir}/node/x.txt holds the docker.io cache's upstream password`);
    expect(`${result?.detail}${result?.fix}`).not.toContain('dckr_pat_token');
  });
});

describe('checkDist: pull-through caches', () => {
  it('passes when dist deploys the material caches, fails on one added since the last synth', () => {
    const dir = materialTemplate({ caches: [{ upstream: 'docker.io' }] }).copy();
    const synthesized = (): string =>
      Testing.synth(new RegistryChart(Testing.app(), 'registry', { material: readMaterial(dir, { now: NOW }) }))
        .map((object) => yaml.dump(object))
        .join('---\n');
    const manifests = [{ file: 'dist/a.k8s.yaml', content: synthesized() }];
    const cachesCheck = (snapshot: MaterialSnapshot) =>
      checkDist(snapshot, manifests, { distDir: 'dist' }).find((check) => check.name === 'dist caches');
    expect(cachesCheck(readMaterialSnapshot(dir))).toEqual({
      name: 'dist caches',
      ok: true,
      detail: 'dist deploys the caches of docker.io',
    });
    addMaterialCache(dir, { upstream: 'quay.io' });
    const stale = cachesCheck(readMaterialSnapshot(dir));
    expect(stale?.ok).toBe(false);
    expect(stale?.detail).toBe(`dist differs from ${dir}/${CACHES_FILE}: no cache of quay.io`);
    expect(stale?.fix).toContain('npx cdk8s synth');
  });
});
