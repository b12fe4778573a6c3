import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  MATERIAL_FILES,
  createServerCertificate,
  generateMaterial,
  loadOrCreateMaterial,
  readMaterial,
  registrySubjectAltNames,
  writeNewMaterial,
} from '../lib';
import { createDirectoryAtomic, writeFileAtomic } from '../lib/atomic-file';
import { describeCertificate, isIssuedBy, permittedNamesOf } from '../lib/certificates';
import { parseHtpasswd, verifyPassword } from '../lib/htpasswd';
import { NODE_CA_FILE, generateMaterialKeys } from '../lib/material';
import { FIXTURE_PASSWORD } from './fixtures/make-material-fixture';

const FIXTURE = join(__dirname, 'fixtures', 'material');
let work: string;

beforeEach(() => {
  work = mkdtempSync(join(tmpdir(), 'material-'));
});
afterEach(() => rmSync(work, { recursive: true, force: true }));

function snapshotDir(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) {
      const file = join(entry.parentPath, entry.name);
      files[file.slice(dir.length + 1)] = `${(statSync(file).mode & 0o777).toString(8)} ${readFileSync(file, 'utf8')}`;
    }
  }
  return files;
}

describe('generateMaterial', () => {
  it('makes a password for the default user that the htpasswd accepts, and a matching registries.yaml', () => {
    const material = generateMaterial();
    expect(material.nodeCredentials.username).toBe('registry');
    expect(material.nodeCredentials.password).toMatch(/^[a-km-zA-HJ-NP-Z2-9]{24}$/);
    expect(verifyPassword(parseHtpasswd(material.htpasswd), 'registry', material.nodeCredentials.password)).toBe(true);
    expect(material.registries.configs?.['container-registry.local:5000']).toEqual({
      auth: material.nodeCredentials,
      tls: { ca_file: NODE_CA_FILE },
    });
    expect(NODE_CA_FILE).toBe('/registry/certs/ca.crt');
    expect(isIssuedBy(material.tls.certificatePem, material.ca.certificatePem)).toBe(true);
  });

  it('takes its two RSA keys made ahead, in parallel (generateMaterialKeys), with the same trust properties', async () => {
    const keys = await generateMaterialKeys();
    const material = generateMaterial({ keys });
    expect(material.ca.privateKeyPem).toBe(keys.caPrivateKeyPem);
    expect(material.tls.privateKeyPem).toBe(keys.serverPrivateKeyPem);
    expect(keys.caPrivateKeyPem).not.toBe(keys.serverPrivateKeyPem);
    expect(isIssuedBy(material.tls.certificatePem, material.ca.certificatePem)).toBe(true);
    const names = registrySubjectAltNames('container-registry.local', 'container-registry', 'container-registry');
    expect(permittedNamesOf(material.ca.certificatePem)).toEqual(names);
    expect(describeCertificate(material.tls.certificatePem).dnsNames).toEqual(names.dnsNames);
  });

  it('follows custom names and ports', () => {
    const material = generateMaterial({
      hostname: 'reg.test',
      nodePort: 30500,
      registryPort: 5443,
      username: 'iris',
      password: 'pw',
    });
    expect(Object.keys(material.registries.mirrors)).toEqual(['reg.test:5443', 'localhost:30500']);
    expect(material.nodeCredentials).toEqual({ username: 'iris', password: 'pw' });
  });

  it('refuses bad options before doing any work', () => {
    expect(() => generateMaterial({ nodePort: 80 })).toThrow(
      "'nodePort' must be an integer in 30000-32767, got 80: pick a port in the NodePort range",
    );
    expect(() => generateMaterial({ hostname: 'bad_host' })).toThrow(
      `'hostname' must be a DNS hostname (dot-separated labels of letters, digits and '-'), got "bad_host": pick a name like "container-registry.local"`,
    );
    for (const hostname of ['localhost', '10.0.0.5']) {
      expect(() => generateMaterial({ hostname })).toThrow(
        `'hostname' must be a name of the registry's own, not an IP address or localhost, got "${hostname}": the nodes map it to the Service IP in /etc/hosts; pick a name like "container-registry.local"`,
      );
    }
    expect(() => generateMaterial({ serviceName: '1registry' })).toThrow(`'serviceName' must be a Service name`);
    expect(() => generateMaterial({ username: 'a:b' })).toThrow(
      `'username' must be non-empty with no ':' or whitespace, got "a:b"`,
    );
    expect(() => generateMaterial({ password: 'x'.repeat(73) })).toThrow(
      '\'password\' for user "registry" must be at most 72 bytes, got 73 bytes',
    );
  });
});

describe('writeNewMaterial / loadOrCreateMaterial', () => {
  it('creates the guide layout with secrets 0600 and the CA and server certificate 0644', () => {
    const dir = join(work, 'registry');
    const { material, created } = loadOrCreateMaterial(dir, { password: 'pw' });
    expect(created).toBe(true);
    const modes = Object.fromEntries(Object.entries(snapshotDir(dir)).map(([file, text]) => [file, text.slice(0, 3)]));
    expect(modes).toEqual({
      'auth/htpasswd': '600',
      'auth/password': '600',
      'node/certs.d/container-registry.local:5000/hosts.toml': '644',
      'node/certs.d/localhost:31113/hosts.toml': '644',
      'node/certs/ca.crt': '644',
      'certs/ca.key': '600',
      'node/certs/registries.yaml': '600',
      'certs/tls.crt': '644',
      'certs/tls.key': '600',
    });
    expect((statSync(dir).mode & 0o777).toString(8)).toBe('700');
    expect(readFileSync(join(dir, MATERIAL_FILES.password), 'utf8')).toBe('pw\n');
    expect(readMaterial(dir)).toEqual(material);
    // The containerd hosts directory says what k3s derives from registries.yaml, CA path included.
    expect(readFileSync(join(dir, 'node/certs.d/localhost:31113/hosts.toml'), 'utf8')).toContain(
      '[host."https://container-registry.local:5000/v2"]\n  capabilities = ["pull", "resolve"]\n  ca = ["/registry/certs/ca.crt"]',
    );
  });

  it('reads existing material and never writes to it', () => {
    const dir = join(work, 'registry');
    cpSync(FIXTURE, dir, { recursive: true });
    const before = snapshotDir(dir);
    const { material, created } = loadOrCreateMaterial(dir);
    expect(created).toBe(false);
    expect(material.nodeCredentials).toEqual({ username: 'registry', password: FIXTURE_PASSWORD });
    expect(snapshotDir(dir)).toEqual(before);
  });

  it('refuses to write over an existing directory, even an empty one', () => {
    const dir = join(work, 'registry');
    mkdirSync(dir);
    expect(() => writeNewMaterial(dir, generateMaterial())).toThrow(
      `${dir} already exists: material is never overwritten; move it away first or use it as it is`,
    );
    expect(readdirSync(dir)).toEqual([]);
  });

  it('leaves no temp directory behind when a write fails midway', () => {
    // A file and then a directory of the same name: the second write fails inside the temp directory.
    const files = [
      { relativePath: 'certs', content: 'x', mode: 0o600 },
      { relativePath: 'certs/ca.key', content: 'x', mode: 0o600 },
    ];
    expect(() => createDirectoryAtomic(join(work, 'registry'), files)).toThrow(/ENOTDIR|EEXIST/);
    expect(readdirSync(work)).toEqual([]);
  });
});

describe('readMaterial', () => {
  let dir: string;
  beforeEach(() => {
    dir = join(work, 'registry');
    cpSync(FIXTURE, dir, { recursive: true });
  });

  it('names a missing file and how to fix it', () => {
    rmSync(join(dir, MATERIAL_FILES.tlsKey));
    expect(() => readMaterial(dir)).toThrow(
      `${join(dir, 'certs/tls.key')} is missing or unreadable: restore it from a backup, or move ${dir} away and synthesize again to create new material`,
    );
  });

  it('names a corrupted certificate', () => {
    writeFileSync(
      join(dir, MATERIAL_FILES.tlsCertificate),
      '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n',
    );
    expect(() => readMaterial(dir)).toThrow(
      new RegExp(`^${join(dir, 'certs/tls.crt')} is not a PEM X.509 RSA certificate`),
    );
  });

  it('refuses a key that belongs to another certificate', () => {
    cpSync(join(dir, MATERIAL_FILES.caKey), join(dir, MATERIAL_FILES.tlsKey));
    expect(() => readMaterial(dir)).toThrow(
      `${join(dir, 'certs/tls.key')} does not belong to ${join(dir, 'certs/tls.crt')}: restore the matching pair or renew the certificate`,
    );
  });

  it('refuses a server certificate from another CA', () => {
    const other = generateMaterial();
    const foreign = createServerCertificate({
      ca: other.ca,
      subjectAltNames: registrySubjectAltNames('a.local', 'a', 'a'),
    });
    writeFileAtomic(join(dir, MATERIAL_FILES.tlsCertificate), foreign.certificatePem, 0o644);
    writeFileAtomic(join(dir, MATERIAL_FILES.tlsKey), foreign.privateKeyPem);
    expect(() => readMaterial(dir)).toThrow(
      `${join(dir, 'certs/tls.crt')} is not signed by ${join(dir, 'node/certs/ca.crt')}: renew the server certificate from this CA`,
    );
  });

  it('finds the node credentials through the localhost:<nodePort> mirror, whatever mirror comes first', () => {
    const text = readFileSync(join(dir, MATERIAL_FILES.registriesYaml), 'utf8').replace(
      'mirrors:\n',
      'mirrors:\n  docker.io:\n    endpoint: ["https://mirror.example"]\n',
    );
    writeFileSync(join(dir, MATERIAL_FILES.registriesYaml), text);
    expect(Object.keys(readMaterial(dir).registries.mirrors)[0]).toBe('docker.io');
    expect(readMaterial(dir).nodeCredentials).toEqual({ username: 'registry', password: FIXTURE_PASSWORD });
  });

  it('refuses registries.yaml without node credentials', () => {
    writeFileSync(join(dir, MATERIAL_FILES.registriesYaml), 'mirrors:\n  "a:1":\n    endpoint: ["https://a:1"]\n');
    expect(() => readMaterial(dir)).toThrow(
      `${join(dir, 'node/certs/registries.yaml')} has no configs."<endpoint host>".auth with username and password: the nodes could not pull; recreate it`,
    );
  });
});

describe('writeFileAtomic', () => {
  it('replaces the file whole, with the mode asked for, and leaves no temp file', () => {
    const file = join(work, 'secret');
    writeFileSync(file, 'old', { mode: 0o644 });
    writeFileAtomic(file, 'new');
    expect(readFileSync(file, 'utf8')).toBe('new');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(work)).toEqual(['secret']);
  });

  it('keeps what is there and leaves no temp file when the final rename fails', () => {
    // A non-empty directory where the file should go: the rename over it fails.
    const target = join(work, 'secret');
    mkdirSync(target);
    writeFileSync(join(target, 'kept'), 'old');
    expect(() => writeFileAtomic(target, 'new')).toThrow(/EISDIR|ENOTEMPTY|EEXIST/);
    expect(readFileSync(join(target, 'kept'), 'utf8')).toBe('old');
    expect(readdirSync(work)).toEqual(['secret']);
  });
});
