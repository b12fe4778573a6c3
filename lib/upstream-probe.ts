import type * as Https from 'node:https';
import type { Credentials } from './htpasswd';
import type { Check } from './material-checks';
import { requestFailure } from './registry-probe';

/**
 * `doctor --live` for a pull-through cache's upstream: logs in to the upstream (Docker Hub, ghcr.io, ...)
 * from this machine with the credentials the material stores for it, the way the cache will. A cache
 * whose upstream refuses its credentials does not say so to the node: distribution's proxy answers
 * `404 MANIFEST_UNKNOWN` for an image the upstream holds (measured with 2.8.2), and containerd then falls
 * back to the upstream itself. So the refusal is found here, at the source.
 *
 * The exchange is the registry token protocol every public registry speaks:
 *   GET <upstream>/v2/ → 401, WWW-Authenticate: Bearer realm="R",service="S"
 *   GET R?service=S with Basic auth → 200 and a token, or 401 for credentials it refuses.
 * An upstream that asks for Basic auth instead gets GET /v2/ with Basic auth.
 */
export interface UpstreamProbeOptions {
  /** The upstream as the user named it in the cache settings, e.g. docker.io: used in messages and the fix. */
  readonly upstream: string;
  /** The registry API's base URL, e.g. https://registry-1.docker.io. */
  readonly url: string;
  /** What the material stores for this upstream; none means anonymous pulls. */
  readonly credentials?: Credentials;
  /** The fix when the upstream refuses (or needs) credentials: how to store them for this user name. */
  readonly loginFix: (username: string) => string;
  /** Extra CA certificates to trust (PEM), on top of Node's: none for public registries. */
  readonly caCertificatesPem?: string;
  /** @default 10000 */
  readonly timeoutMs?: number;
}

interface HttpAnswer {
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

/** One auth challenge of a WWW-Authenticate header: its scheme and parameters (names lower-cased). */
export interface AuthChallenge {
  readonly scheme: string;
  readonly params: Readonly<Record<string, string>>;
}

/**
 * The challenges of a WWW-Authenticate header (RFC 9110 section 11.6.1): `Scheme k=v, k="quoted", ...`,
 * possibly several, separated by commas.
 */
export function parseAuthChallenges(header: string): AuthChallenge[] {
  const challenges: { scheme: string; params: Record<string, string> }[] = [];
  const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/;
  let rest = header.trim();
  while (rest !== '') {
    const scheme = token.exec(rest)?.[0];
    if (scheme === undefined) break;
    rest = rest.slice(scheme.length).trimStart();
    const params: Record<string, string> = {};
    challenges.push({ scheme, params });
    // Parameters: name=value pairs; a bare token after a comma starts the next challenge.
    for (;;) {
      const param = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*=\s*/.exec(rest);
      if (param === null) break;
      rest = rest.slice(param[0].length);
      let value: string;
      if (rest.startsWith('"')) {
        const quoted = /^"((?:[^"\\]|\\.)*)"/.exec(rest);
        if (quoted === null) return challenges; // unterminated: stop where it breaks
        value = quoted[1].replace(/\\(.)/g, '$1');
        rest = rest.slice(quoted[0].length);
      } else {
        value = /^[^,\s]*/.exec(rest)?.[0] ?? '';
        rest = rest.slice(value.length);
      }
      params[param[1].toLowerCase()] = value;
      rest = rest.trimStart();
      if (!rest.startsWith(',')) break;
      rest = rest.slice(1).trimStart();
    }
    rest = rest.replace(/^,\s*/, '');
  }
  return challenges;
}

/** How many redirects a GET follows, as Go's http.Client (the cache's) does: up to 10. */
const MAX_REDIRECTS = 10;

/**
 * GET with the given headers, following redirects as Go's client does (registry.k8s.io redirects its API);
 * the Authorization header only goes to the host it was meant for. Rejects on a network error only.
 */
async function get(
  url: string,
  headers: Record<string, string>,
  options: { caCertificatesPem?: string; timeoutMs: number },
): Promise<HttpAnswer> {
  let target = new URL(url);
  let sent = headers;
  for (let hop = 0; ; hop++) {
    const answer = await getOnce(target.toString(), sent, options);
    const location = [answer.headers.location].flat()[0];
    if (![301, 302, 303, 307, 308].includes(answer.status) || location === undefined || hop === MAX_REDIRECTS)
      return answer;
    const next = new URL(location, target);
    if (next.host !== target.host) {
      const { authorization: _dropped, ...rest } = sent;
      sent = rest;
    }
    target = next;
  }
}

function getOnce(
  url: string,
  headers: Record<string, string>,
  options: { caCertificatesPem?: string; timeoutMs: number },
): Promise<HttpAnswer> {
  // node:https loaded only for a live probe: doctor without --live never needs it.
  const https = require('node:https') as typeof Https;
  const tls = require('node:tls') as typeof import('node:tls');
  const ca = options.caCertificatesPem === undefined ? undefined : [...tls.rootCertificates, options.caCertificatesPem];
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'GET', headers, ca, agent: false, timeout: options.timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        // A token is a few KB; anything beyond is not needed for a diagnosis.
        if (body.length < 64 * 1024) body += chunk;
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, body }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () =>
      req.destroy(Object.assign(new Error(`no answer within ${options.timeoutMs} ms`), { code: 'ETIMEDOUT' })),
    );
    req.on('error', reject);
    req.end();
  });
}

const basic = ({ username, password }: Credentials): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;

/** The message a registry or token server put in its error body, if any (`details`, `errors[0].message`). */
function serverMessage(body: string): string | undefined {
  try {
    const parsed = JSON.parse(body);
    const message = parsed?.details ?? parsed?.errors?.[0]?.message ?? parsed?.message;
    return typeof message === 'string' && message !== '' ? message.slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}

/** Probes the upstream of one cache; resolves with one check, never rejects, never shows the password. */
export async function probeUpstream(options: UpstreamProbeOptions): Promise<Check> {
  const name = `upstream ${options.upstream}`;
  const { credentials } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const requestOptions = { caCertificatesPem: options.caCertificatesPem, timeoutMs };
  const apiUrl = `${options.url.replace(/\/+$/, '')}/v2/`;
  const who = credentials === undefined ? '' : JSON.stringify(credentials.username);
  const { loginFix } = options;
  // Whatever an upstream echoes back, the password never reaches the report.
  const redact = (check: Check): Check => {
    const secret = credentials?.password;
    if (secret === undefined || secret === '') return check;
    const clean = (text: string | undefined) => text?.split(secret).join('***');
    return { ...check, detail: clean(check.detail) as string, ...(check.fix ? { fix: clean(check.fix) } : {}) };
  };
  const failed = (url: string, error: NodeJS.ErrnoException): Check => ({
    name,
    ok: false,
    detail: requestFailure('GET', url, error).detail,
    fix: `check the upstream URL (${options.url}) and that this machine reaches it; the cache reaches it the same way from the cluster`,
  });
  const unexpected = (what: string, answer: HttpAnswer): Check => {
    const message = serverMessage(answer.body);
    return {
      name,
      ok: false,
      detail: `${what}: HTTP ${answer.status} ${answer.statusMessage}${message ? ` (${message})` : ''}: not what a registry answers`,
      fix: `check the upstream URL (${options.url}): it must be the registry's API endpoint (for docker.io, https://registry-1.docker.io)`,
    };
  };

  let first: HttpAnswer;
  try {
    first = await get(apiUrl, {}, requestOptions);
  } catch (error) {
    return failed(apiUrl, error as NodeJS.ErrnoException);
  }
  if (first.status === 200) {
    return {
      name,
      ok: true,
      detail: `GET ${apiUrl}: 200 without a login${credentials ? `: the stored credentials of ${who} are not needed` : ''}`,
    };
  }
  if (first.status !== 401) return unexpected(`GET ${apiUrl}`, first);
  const header = [first.headers['www-authenticate'] ?? []].flat().join(', ');
  const challenges = parseAuthChallenges(header);
  const bearer = challenges.find((challenge) => challenge.scheme.toLowerCase() === 'bearer');
  const basicChallenge = challenges.find((challenge) => challenge.scheme.toLowerCase() === 'basic');

  if (bearer !== undefined && bearer.params.realm !== undefined) {
    const realm = new URL(bearer.params.realm);
    if (bearer.params.service !== undefined) realm.searchParams.set('service', bearer.params.service);
    const tokenUrl = realm.toString();
    let answer: HttpAnswer;
    try {
      answer = await get(tokenUrl, credentials ? { authorization: basic(credentials) } : {}, requestOptions);
    } catch (error) {
      return redact(failed(tokenUrl, error as NodeJS.ErrnoException));
    }
    const message = serverMessage(answer.body);
    const said = message === undefined ? '' : ` ("${message}")`;
    if (answer.status === 200) {
      return {
        name,
        ok: true,
        detail: credentials
          ? `token from ${realm.origin}${realm.pathname} for ${who}: 200, the upstream accepts the stored credentials`
          : `anonymous token from ${realm.origin}${realm.pathname}: 200 (no credentials stored: anonymous pulls, rate-limited on Docker Hub)`,
      };
    }
    if (answer.status === 401 || answer.status === 403) {
      return redact(
        credentials
          ? {
              name,
              ok: false,
              detail: `${options.upstream} refused the stored credentials of ${who}: its token endpoint ${realm.origin}${realm.pathname} answered ${answer.status}${said}. The cache logs in with them, is refused, and answers "manifest unknown" for images the upstream holds; nodes then pull from ${options.upstream} directly`,
              fix: loginFix(credentials.username),
            }
          : {
              name,
              ok: false,
              detail: `${options.upstream} gives no anonymous token: its token endpoint ${realm.origin}${realm.pathname} answered ${answer.status}${said}, and no credentials are stored for it`,
              fix: loginFix('USER'),
            },
      );
    }
    return redact(unexpected(`GET ${tokenUrl}`, answer));
  }

  if (basicChallenge !== undefined) {
    if (credentials === undefined) {
      return {
        name,
        ok: false,
        detail: `GET ${apiUrl}: 401, ${options.upstream} asks for a login (Basic) and no credentials are stored for it`,
        fix: loginFix('USER'),
      };
    }
    let answer: HttpAnswer;
    try {
      answer = await get(apiUrl, { authorization: basic(credentials) }, requestOptions);
    } catch (error) {
      return redact(failed(apiUrl, error as NodeJS.ErrnoException));
    }
    if (answer.status === 200)
      return { name, ok: true, detail: `GET ${apiUrl} with Basic auth: 200, logged in as ${who}` };
    if (answer.status === 401 || answer.status === 403) {
      return redact({
        name,
        ok: false,
        detail: `${options.upstream} refused the stored credentials of ${who}: GET ${apiUrl} with Basic auth answered ${answer.status}`,
        fix: loginFix(credentials.username),
      });
    }
    return redact(unexpected(`GET ${apiUrl} with Basic auth`, answer));
  }
  return {
    name,
    ok: false,
    detail: `GET ${apiUrl}: 401 with ${header === '' ? 'no WWW-Authenticate header' : `WWW-Authenticate ${JSON.stringify(header)}`}: neither a token realm nor Basic auth`,
    fix: `check the upstream URL (${options.url}): it must be the registry's API endpoint`,
  };
}

/** A cache's upstream as the material stores it (caches/upstreams.json). */
export interface CacheUpstreamToProbe {
  readonly upstream: string;
  readonly remoteUrl: string;
  readonly credentials?: Credentials;
}

/** probeUpstream for every cache, at once; one check each, in the caches' order. */
export function probeCacheUpstreams(
  caches: readonly CacheUpstreamToProbe[],
  options: { loginFix: (upstream: string, username: string) => string; timeoutMs?: number },
): Promise<Check[]> {
  return Promise.all(
    caches.map((cache) =>
      probeUpstream({
        upstream: cache.upstream,
        url: cache.remoteUrl,
        credentials: cache.credentials,
        loginFix: (username) => options.loginFix(cache.upstream, username),
        timeoutMs: options.timeoutMs,
      }),
    ),
  );
}
