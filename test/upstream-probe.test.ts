import type { IncomingMessage, ServerResponse } from 'node:http';
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
  const base64 = (text: string) => Buffer.from(text).toString('base64');
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
  /** A local HTTPS upstream answering with `respond`; resolves with its URL. */
  const upstream = (respond: (req: IncomingMessage, res: ServerResponse, url: string) => void): Promise<string> => {
    const server = createServer({ cert: tls.server.certificatePem, key: tls.server.privateKeyPem }, (req, res) =>
      respond(req, res, `https://127.0.0.1:${(server.address() as AddressInfo).port}`),
    );
    servers.push(server);
    return new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve(`https://127.0.0.1:${(server.address() as AddressInfo).port}`)),
    );
  };
  /** A registry whose token endpoint refuses every login and echoes what it was sent, in every form (the worst case). */
  const echoingUpstream = (): Promise<string> =>
    upstream((req, res, url) => {
      if (req.url === '/v2/') {
        res.writeHead(401, { 'www-authenticate': `Bearer realm="${url}/token",service="echo"` });
        res.end('{}');
        return;
      }
      const authorization = req.headers.authorization ?? '';
      const sent = Buffer.from(authorization.replace(/^Basic /, ''), 'base64').toString();
      const password = sent.slice(sent.indexOf(':') + 1);
      res.writeHead(401);
      res.end(JSON.stringify({ details: `bad login ${sent} (${authorization}, ${base64(password)})` }));
    });
  const probe = (url: string) =>
    probeUpstream({
      upstream: 'docker.io',
      url,
      credentials: { username: 'me', password: SECRET },
      loginFix: (username) => `cache login docker.io --username ${username}`,
      caCertificatesPem: tls.ca.certificatePem,
    });

  it('never repeats the password, even when the upstream echoes it, its Authorization header or base64', async () => {
    const url = await echoingUpstream();
    const check = await probe(url);
    expect(check).toEqual({
      name: 'upstream docker.io',
      ok: false,
      detail: expect.stringContaining(
        `docker.io refused the stored credentials of "me": its token endpoint ${url}/token answered 401 ("bad login me:*** (Basic ***, ***)")`,
      ),
      fix: 'cache login docker.io --username me',
    });
    for (const secret of [SECRET, base64(`me:${SECRET}`), base64(SECRET)]) {
      expect(JSON.stringify(check)).not.toContain(secret);
    }
  });

  it('resolves a relative token realm against the API URL', async () => {
    const url = await upstream((req, res) => {
      if (req.url === '/v2/') res.writeHead(401, { 'www-authenticate': 'Bearer realm="/token",service="rel"' }).end();
      else if (req.url === '/token?service=rel' && req.headers.authorization === `Basic ${base64(`me:${SECRET}`)}`)
        res.writeHead(200).end('{"token":"t"}');
      else res.writeHead(404).end();
    });
    expect(await probe(url)).toEqual({
      name: 'upstream docker.io',
      ok: true,
      detail: `token from ${url}/token for "me": 200, the upstream accepts the stored credentials`,
    });
  });

  it('turns an unexpected error (a realm that is no URL) into a failed check, never a rejection', async () => {
    const url = await upstream((_req, res) =>
      res.writeHead(401, { 'www-authenticate': 'Bearer realm="http://[",service="broken"' }).end(),
    );
    expect(await probe(url)).toEqual({
      name: 'upstream docker.io',
      ok: false,
      detail: `the probe of ${url} failed: Invalid URL`,
      fix: `check the upstream URL (${url}): it must be the registry's API endpoint`,
    });
  });

  it('fails an upstream that asks for Basic auth even when the login works: the cache cannot send it', async () => {
    const url = await upstream((req, res) => {
      if (req.headers.authorization === `Basic ${base64(`me:${SECRET}`)}`) res.writeHead(200).end('{}');
      else res.writeHead(401, { 'www-authenticate': 'Basic realm="htpasswd"' }).end();
    });
    const check = await probe(url);
    expect(check.ok).toBe(false);
    expect(check.detail).toContain(`GET ${url}/v2/ with Basic auth: 200, logged in as "me", but only from here`);
    expect(check.detail).toContain('distribution#3153');
    expect(check.fix).toContain('private-registry cache rm docker.io');
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
