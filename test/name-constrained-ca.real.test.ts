import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  MATERIAL_FILES,
  type RegistryMaterial,
  createServerCertificate,
  generateMaterial,
  renewCertificates,
  writeNewMaterial,
} from '../lib';
import { freeLoopbackPort } from './support/free-port';
import { writeOciImage } from './support/oci-image';
import { describeReal } from './support/real-software';
import { startRegistry, stopAllRegistries } from './support/registry-process';
import { run } from './support/run';
import { skopeoCopy } from './support/skopeo';

/**
 * The CA vouches only for the registry's names: a certificate for any other name, signed with the CA key
 * itself, is rejected by OpenSSL and by skopeo (Go's verifier, as in containerd and k3s), while ours is
 * accepted, before and after a renewal. containerd's refusal is in node-pull.real.test.ts.
 */
describeReal('a name-constrained CA, checked by the real verifiers', ['openssl', 'skopeo', 'docker-registry'], () => {
  let work: string;
  let material: RegistryMaterial;
  const dir = () => join(work, 'registry');
  const file = (name: string, content: string): string => {
    writeFileSync(join(work, name), content);
    return join(work, name);
  };
  const openssl = (certificate: string) =>
    run('openssl', ['verify', '-CAfile', join(dir(), MATERIAL_FILES.caCertificate), certificate]);
  /** A registry on `address` serving `certificate`, and an image pushed there with skopeo trusting our CA. */
  const pushTo = async (address: string, certificate: { certificatePem: string; privateKeyPem: string }) => {
    const name = address.replace(/[.:]/g, '-');
    const port = await freeLoopbackPort();
    mkdirSync(join(work, name));
    await startRegistry({
      workDir: join(work, name),
      env: {
        REGISTRY_HTTP_ADDR: `${address}:${port}`,
        REGISTRY_HTTP_TLS_CERTIFICATE: file(`${name}.crt`, certificate.certificatePem),
        REGISTRY_HTTP_TLS_KEY: file(`${name}.key`, certificate.privateKeyPem),
        REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: join(work, name, 'storage'),
      },
    });
    return skopeoCopy({
      from: `oci:${join(work, 'image')}:latest`,
      to: `docker://${address}:${port}/hello:latest`,
      certDir: join(work, 'trust'),
    });
  };

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'name-constraints-'));
    material = generateMaterial({ password: 'name-constraints-1' });
    writeNewMaterial(dir(), material);
    mkdirSync(join(work, 'trust'));
    writeFileSync(join(work, 'trust', 'ca.crt'), material.ca.certificatePem);
    writeOciImage(join(work, 'image'), { files: { 'hello.txt': 'hello\n' } });
  });

  afterAll(async () => {
    await stopAllRegistries();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('openssl verify accepts our certificate and rejects one for another name or IP signed by the same key', async () => {
    const ours = await openssl(join(dir(), MATERIAL_FILES.tlsCertificate));
    expect(ours.code, ours.stderr).toBe(0);
    for (const subjectAltNames of [
      { dnsNames: ['evil.example'], ipAddresses: [] },
      { dnsNames: ['container-registry.local'], ipAddresses: ['10.0.0.1'] },
      { dnsNames: ['registry.k8s.io', 'localhost'], ipAddresses: ['127.0.0.1'] },
    ]) {
      const rogue = createServerCertificate({ ca: material.ca, subjectAltNames });
      const result = await openssl(file('rogue.crt', rogue.certificatePem));
      expect(result.code, JSON.stringify(subjectAltNames)).not.toBe(0);
      expect(`${result.stdout}${result.stderr}`).toContain('permitted subtree violation');
    }
  });

  it('a renewed certificate still verifies, and the CA it comes from is unchanged', async () => {
    const copy = join(work, 'renewed');
    writeNewMaterial(copy, material);
    renewCertificates(copy);
    const result = await run('openssl', [
      'verify',
      '-CAfile',
      join(copy, MATERIAL_FILES.caCertificate),
      join(copy, MATERIAL_FILES.tlsCertificate),
    ]);
    expect(result.code, result.stderr).toBe(0);
    expect(readFileSync(join(copy, MATERIAL_FILES.caCertificate), 'utf8')).toBe(material.ca.certificatePem);
  });

  it('skopeo pushes to a registry with our certificate and refuses one serving a certificate for another IP', async () => {
    const ours = await pushTo('127.0.0.1', material.tls);
    expect(ours.code, ours.stderr).toBe(0);
    const rogue = createServerCertificate({
      ca: material.ca,
      subjectAltNames: { dnsNames: ['evil.example'], ipAddresses: ['127.0.0.2'] },
    });
    const refused = await pushTo('127.0.0.2', rogue);
    expect(refused.code).not.toBe(0);
    // Go checks every subjectAltName, DNS names first; skopeo's log quotes the message with \".
    expect(refused.stderr.replace(/\\"/g, '"')).toContain(
      'x509: a root or intermediate certificate is not authorized to sign for this name: DNS name "evil.example" is not permitted by any constraint',
    );
  });
});
