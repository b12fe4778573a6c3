import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CertificateAndKey, createCertificateAuthority, createServerCertificate } from '../lib/certificates';
import { probeRegistry, registryApiUrl } from '../lib/registry-probe';
import { freeLoopbackPort } from './support/free-port';

const USER = { username: 'iris', password: 'correct horse' };

/**
 * A stand-in for the registry's first exchange (GET /v2/ with basic auth): enough to produce every
 * TLS and HTTP outcome the probe diagnoses. The real registry is in test/cli/doctor-live.real.test.ts.
 */
function fakeRegistry(tls: CertificateAndKey, status?: number): Promise<{ server: Server; port: number }> {
  const server = createServer({ cert: tls.certificatePem, key: tls.privateKeyPem }, (req, res) => {
    const expected = `Basic ${Buffer.from(`${USER.username}:${USER.password}`).toString('base64')}`;
    res.statusCode = status ?? (req.url === '/v2/' && req.headers.authorization === expected ? 200 : 401);
    res.end('{}');
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port })),
  );
}

describe('probeRegistry', () => {
  let ca: CertificateAndKey;
  let otherCa: CertificateAndKey;
  let registry: { server: Server; port: number };
  const servers: Server[] = [];

  beforeAll(async () => {
    ca = createCertificateAuthority();
    otherCa = createCertificateAuthority();
    registry = await fakeRegistry(
      createServerCertificate({ ca, subjectAltNames: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] } }),
    );
    servers.push(registry.server);
  });
  afterAll(() => {
    for (const server of servers) server.close();
  });

  const probe = (port: number, options: { ca?: CertificateAndKey; password?: string; host?: string } = {}) =>
    probeRegistry({
      url: `https://${options.host ?? 'localhost'}:${port}`,
      caCertificatePem: (options.ca ?? ca).certificatePem,
      credentials: { username: USER.username, password: options.password ?? USER.password },
    });

  it('passes on 200 with our CA and the credentials', async () => {
    expect(await probe(registry.port)).toEqual({
      name: 'live registry',
      ok: true,
      detail: `GET https://localhost:${registry.port}/v2/: 200, TLS verified with our CA, logged in as "iris"`,
    });
  });

  it('diagnoses 401 as the wrong htpasswd in the cluster', async () => {
    expect(await probe(registry.port, { password: 'wrong' })).toEqual({
      name: 'live registry',
      ok: false,
      detail: `GET https://localhost:${registry.port}/v2/: 401 Unauthorized: the registry rejects "iris" with the password in registries.yaml`,
      fix: 'the registry runs another htpasswd than the material: npx cdk8s synth && kubectl apply -f dist (check the password with private-registry user verify)',
    });
  });

  it('names the x509 reason when the certificate is from another CA', async () => {
    const check = await probe(registry.port, { ca: otherCa });
    expect(check.ok).toBe(false);
    expect(check.detail).toBe(
      `GET https://localhost:${registry.port}/v2/: TLS failed: x509: certificate signed by unknown authority (UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate)`,
    );
    expect(check.fix).toBe(
      'the registry serves a certificate this CA did not sign: npx cdk8s synth && kubectl apply -f dist (the pod restarts with the new certificate)',
    );
  });

  it('names the x509 reason when the certificate lacks the name', async () => {
    const wrongName = await fakeRegistry(
      createServerCertificate({ ca, subjectAltNames: { dnsNames: ['elsewhere.example'], ipAddresses: [] } }),
    );
    servers.push(wrongName.server);
    const check = await probe(wrongName.port);
    expect(check.detail).toMatch(
      /TLS failed: x509: certificate is not valid for this name \(ERR_TLS_CERT_ALTNAME_INVALID: Hostname\/IP does not match certificate's altnames: Host: localhost\. is not in the cert's altnames: DNS:elsewhere\.example\)$/,
    );
    expect(check.fix).toBe(
      'issue a certificate with every name (private-registry certs renew), then synthesize and apply it',
    );
  });

  it('names the x509 reason when the certificate has expired', async () => {
    // A CA current in 2020 (and now): certificates are only issued from a CA that is current at the time.
    const oldCa = createCertificateAuthority({ now: new Date('2020-01-01T00:00:00Z') });
    const expired = await fakeRegistry(
      createServerCertificate({
        ca: oldCa,
        subjectAltNames: { dnsNames: ['localhost'], ipAddresses: [] },
        validityDays: 1,
        now: new Date('2020-01-01T00:00:00Z'),
      }),
    );
    servers.push(expired.server);
    expect((await probe(expired.port, { ca: oldCa })).detail).toMatch(
      /TLS failed: x509: certificate has expired \(CERT_HAS_EXPIRED: certificate has expired\)$/,
    );
  });

  it('diagnoses connection refused', async () => {
    const port = await freeLoopbackPort();
    const check = await probe(port, { host: '127.0.0.1' });
    expect(check.detail).toBe(`GET https://127.0.0.1:${port}/v2/: connection refused: nothing listens there`);
    expect(check.fix).toMatch(
      /^start the cluster with the registry port mapped \(private-registry k3d-config --out k3d.yaml && k3d cluster create --config k3d.yaml\)/,
    );
  });

  it('reports an HTTP status a registry would not answer', async () => {
    const broken = await fakeRegistry(
      createServerCertificate({ ca, subjectAltNames: { dnsNames: ['localhost'], ipAddresses: [] } }),
      503,
    );
    servers.push(broken.server);
    expect((await probe(broken.port)).detail).toBe(
      `GET https://localhost:${broken.port}/v2/: HTTP 503 Service Unavailable: not what a registry answers`,
    );
  });
});

describe('registryApiUrl', () => {
  it('points a bare https://host:port at /v2/ and keeps explicit paths', () => {
    expect(registryApiUrl('https://localhost:31113')).toBe('https://localhost:31113/v2/');
    expect(registryApiUrl('https://127.0.0.1:5000/v2/_catalog')).toBe('https://127.0.0.1:5000/v2/_catalog');
  });

  it('rejects what is not an https URL', () => {
    expect(() => registryApiUrl('http://localhost:31113')).toThrow(
      `'url' must be an https:// URL, got "http://localhost:31113": write it like https://localhost:31113`,
    );
    expect(() => registryApiUrl('localhost:31113')).toThrow(`'url' must be an https:// URL, got "localhost:31113"`);
  });
});
