import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createCertificateAuthority, createServerCertificate } from '../lib/certificates';
import { parseAuthChallenges, probeUpstream } from '../lib/upstream-probe';
import { freeLoopbackPort } from './support/free-port';

describe('parseAuthChallenges', () => {
  it("reads Docker Hub's Bearer challenge", () => {
    expect(
      parseAuthChallenges(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/hello:pull"',
      ),
    ).toEqual([
      {
        scheme: 'Bearer',
        params: {
          realm: 'https://auth.docker.io/token',
          service: 'registry.docker.io',
          scope: 'repository:library/hello:pull',
        },
      },
    ]);
  });

  it('reads Basic, unquoted values, escapes, spaces and several challenges in one header', () => {
    expect(
      parseAuthChallenges('Basic realm="GitHub \\"Package\\" Registry", Bearer realm=https://x/token , service = s'),
    ).toEqual([
      { scheme: 'Basic', params: { realm: 'GitHub "Package" Registry' } },
      { scheme: 'Bearer', params: { realm: 'https://x/token', service: 's' } },
    ]);
  });

  it('gives nothing for an empty header and stops at an unterminated quote', () => {
    expect(parseAuthChallenges('')).toEqual([]);
    expect(parseAuthChallenges('Bearer realm="https://x')).toEqual([{ scheme: 'Bearer', params: {} }]);
  });
});

describe('probeUpstream', () => {
  const SECRET = 'echoed-secret-token';
  const tls = (() => {
    const ca = createCertificateAuthority();
    return {
      ca,
      server: createServerCertificate({ ca, subjectAltNames: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] } }),
    };
  })();
  const servers: Server[] = [];
  afterAll(() => {
    for (const server of servers) server.close();
  });
  /** A registry whose token endpoint refuses every login and echoes what it was sent (the worst case). */
  const echoingUpstream = (): Promise<string> => {
    const server = createServer({ cert: tls.server.certificatePem, key: tls.server.privateKeyPem }, (req, res) => {
      const port = (server.address() as AddressInfo).port;
      if (req.url === '/v2/') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="https://127.0.0.1:${port}/token",service="echo"` });
        res.end('{}');
        return;
      }
      const sent = Buffer.from((req.headers.authorization ?? '').replace(/^Basic /, ''), 'base64').toString();
      res.writeHead(401);
      res.end(JSON.stringify({ details: `bad login ${sent}` }));
    });
    servers.push(server);
    return new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve(`https://127.0.0.1:${(server.address() as AddressInfo).port}`)),
    );
  };
  const probe = (url: string) =>
    probeUpstream({
      upstream: 'docker.io',
      url,
      credentials: { username: 'me', password: SECRET },
      loginFix: (username) => `cache login docker.io --username ${username}`,
      caCertificatesPem: tls.ca.certificatePem,
    });

  it('never repeats the password, even when the upstream echoes it', async () => {
    const url = await echoingUpstream();
    const check = await probe(url);
    expect(check).toEqual({
      name: 'upstream docker.io',
      ok: false,
      detail: expect.stringContaining(
        `docker.io refused the stored credentials of "me": its token endpoint ${url}/token answered 401 ("bad login me:***")`,
      ),
      fix: 'cache login docker.io --username me',
    });
    expect(JSON.stringify(check)).not.toContain(SECRET);
  });

  it('names the URL when nothing listens there', async () => {
    const port = await freeLoopbackPort();
    const check = await probe(`https://127.0.0.1:${port}`);
    expect(check.ok).toBe(false);
    expect(check.detail).toBe(`GET https://127.0.0.1:${port}/v2/: connection refused: nothing listens there`);
    expect(check.fix).toContain(`check the upstream URL (https://127.0.0.1:${port})`);
  });
});

describe('probeUpstream through redirects', () => {
  it('follows the API redirect of an open upstream (as registry.k8s.io does) and passes', async () => {
    const ca = createCertificateAuthority();
    const cert = createServerCertificate({
      ca,
      subjectAltNames: { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] },
    });
    const server = createServer({ cert: cert.certificatePem, key: cert.privateKeyPem }, (req, res) => {
      if (req.url === '/v2/') res.writeHead(307, { location: '/moved/v2/' }).end();
      else res.writeHead(req.url === '/moved/v2/' ? 200 : 404).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
      expect(
        await probeUpstream({
          upstream: 'registry.k8s.io',
          url,
          loginFix: () => 'login',
          caCertificatesPem: ca.certificatePem,
        }),
      ).toEqual({ name: 'upstream registry.k8s.io', ok: true, detail: `GET ${url}/v2/: 200 without a login` });
    } finally {
      server.close();
    }
  });
});
