import { createHash, type KeyObject, createPublicKey } from 'node:crypto';

/**
 * A registry token server in the manner of Docker Hub's auth.docker.io and ghcr.io/token: the other half
 * of a real registry run with `REGISTRY_AUTH=token`. No real token server is packaged for Debian, so this
 * one is ours, and it does only what the protocol needs:
 *   GET /token?service=S&scope=repository:NAME:pull  with Basic auth
 *   → 200 {"token","access_token","expires_in","issued_at"}, an RS256 JWT the registry verifies against
 *     REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE (the header's `kid` names the key, libtrust-style);
 *   → 401 {"details":"incorrect username or password"} for a wrong or missing login, as Docker Hub answers.
 * The registry's own code (distribution's token access controller, the proxy's token handler) does the rest.
 *
 * It runs inside a node sandbox's network namespace, so it is a self-contained CommonJS script (plain
 * Node) that the harness writes to a temp file: `node token-server.cjs CONFIG.json`, printing
 * "listening HOST:PORT" once bound and one line per request: "token USER SCOPE -> STATUS" (never a password).
 */
export const TOKEN_SERVER_SOURCE = String.raw`'use strict';
const https = require('node:https');
const crypto = require('node:crypto');
const fs = require('node:fs');
const config = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const b64url = (data) => Buffer.from(data).toString('base64url');

function login(header) {
  const match = /^Basic (.+)$/i.exec(header || '');
  if (!match) return undefined;
  const text = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  return { username: text.slice(0, colon), password: text.slice(colon + 1) };
}

function token(subject, scopes) {
  const now = Math.floor(Date.now() / 1000);
  const access = scopes.map((scope) => {
    const [type, name, actions] = scope.split(':');
    return { type, name, actions: (actions || '').split(',').filter((a) => a !== '') };
  });
  const header = { typ: 'JWT', alg: 'RS256', kid: config.kid };
  const claims = { iss: config.issuer, sub: subject, aud: config.service, exp: now + 300, nbf: now - 10, iat: now,
    jti: crypto.randomBytes(8).toString('hex'), access };
  const signed = b64url(JSON.stringify(header)) + '.' + b64url(JSON.stringify(claims));
  const signature = crypto.sign('sha256', Buffer.from(signed), config.signingKeyPem);
  return signed + '.' + b64url(signature);
}

const server = https.createServer({ cert: config.tlsCertificatePem, key: config.tlsKeyPem }, (req, res) => {
  const url = new URL(req.url, 'https://token');
  const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ')).filter((s) => s !== '');
  const user = login(req.headers.authorization);
  const known = user !== undefined && config.users[user.username] !== undefined &&
    config.users[user.username] === user.password;
  const status = url.pathname !== '/token' ? 404 : known ? 200 : 401;
  process.stdout.write('token ' + (user ? JSON.stringify(user.username) : '-') + ' ' + (scopes.join(' ') || '-') +
    ' -> ' + status + '\n');
  res.setHeader('content-type', 'application/json');
  if (status === 404) { res.writeHead(404); res.end('{"details":"not found"}'); return; }
  if (status === 401) {
    res.writeHead(401, { 'www-authenticate': 'Basic realm="token"' });
    res.end('{"details":"incorrect username or password"}');
    return;
  }
  const jwt = token(user.username, scopes);
  res.writeHead(200);
  res.end(JSON.stringify({ token: jwt, access_token: jwt, expires_in: 300, issued_at: new Date().toISOString() }));
});
server.listen(config.port, config.host, () => process.stdout.write('listening ' + config.host + ':' + config.port + '\n'));
`;

/** What the token server's CONFIG.json holds. */
export interface TokenServerConfig {
  readonly host: string;
  readonly port: number;
  readonly tlsCertificatePem: string;
  readonly tlsKeyPem: string;
  /** The key tokens are signed with; its certificate goes into the registry's REGISTRY_AUTH_TOKEN_ROOTCERTBUNDLE. */
  readonly signingKeyPem: string;
  /** libtrustKeyId of that key. */
  readonly kid: string;
  /** REGISTRY_AUTH_TOKEN_ISSUER and _SERVICE of the registry. */
  readonly issuer: string;
  readonly service: string;
  /** user name → password. */
  readonly users: Readonly<Record<string, string>>;
}

/**
 * The key ID distribution 2.8 (through docker/libtrust) gives a public key and looks a token's `kid` up by:
 * the first 240 bits of the SHA-256 of its DER SubjectPublicKeyInfo, base32 (RFC 4648), in groups of 4
 * joined by ':'.
 */
export function libtrustKeyId(publicKey: KeyObject | string): string {
  const key = typeof publicKey === 'string' ? createPublicKey(publicKey) : publicKey;
  const digest = createHash('sha256')
    .update(key.export({ type: 'spki', format: 'der' }))
    .digest()
    .subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let encoded = '';
  for (const byte of digest) {
    value = ((value << 8) | byte) & 0xffff; // at most 12 bits are pending
    bits += 8;
    while (bits >= 5) {
      encoded += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return encoded.match(/.{4}/g)!.join(':');
}
