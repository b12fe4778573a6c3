import type { Credentials } from './htpasswd';
import type { Check } from './material-checks';
import { basicAuthorization, httpsRequest } from './https-request';
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
 * An upstream that asks for Basic auth instead gets GET /v2/ with Basic auth, and fails even when it logs in:
 * distribution's proxy hands credentials only to a token realm (distribution#3153, measured with 2.8.2).
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

async function getOnce(
  url: string,
  headers: Record<string, string>,
  options: { caCertificatesPem?: string; timeoutMs: number },
): Promise<HttpAnswer> {
  const tls = require('node:tls') as typeof import('node:tls');
  const ca = options.caCertificatesPem === undefined ? undefined : [...tls.rootCertificates, options.caCertificatesPem];
  // A token is a few KB; anything beyond is not needed for a diagnosis.
  const answer = await httpsRequest(url, { headers, ca, timeoutMs: options.timeoutMs, maxBodyBytes: 64 * 1024 });
  return { ...answer, body: answer.body.toString('utf8') };
}

/**
 * The message a registry or token server put in its error body, if any (`details`, `errors[0].message`),
 * cleaned before it is shortened (a cut-off secret would no longer match).
 */
function serverMessage(body: string, clean: (text: string) => string): string | undefined {
  try {
    const parsed = JSON.parse(body);
    const message = parsed?.details ?? parsed?.errors?.[0]?.message ?? parsed?.message;
    return typeof message === 'string' && message !== '' ? clean(message).slice(0, 200) : undefined;
  } catch {
    return undefined;
  }
}

/** Text with the password and its base64 forms (as in an Authorization header) taken out. */
function withoutCredentials(text: string, credentials: Credentials | undefined): string {
  if (credentials === undefined) return text;
  const { username, password } = credentials;
  const base64 = (value: string) => Buffer.from(value).toString('base64');
  // Longest first, so that a secret holding another one is replaced whole.
  const secrets = [password, base64(`${username}:${password}`), base64(password)]
    .filter((secret) => secret !== '')
    .sort((a, b) => b.length - a.length);
  return secrets.reduce((clean, secret) => clean.split(secret).join('***'), text);
}

/**
 * What a server said, once credentials were sent: also without any Authorization-looking value
 * (`Basic ...`, `Bearer ...`), whatever the server did to what it echoes.
 */
function withoutAuthorization(message: string, credentials: Credentials | undefined): string {
  if (credentials === undefined) return message;
  return withoutCredentials(message.replace(/\b(Basic|Bearer)\s+[A-Za-z0-9+/=._~-]+/gi, '$1 ***'), credentials);
}

/** Probes the upstream of one cache; resolves with one check, never rejects, never shows the password. */
export async function probeUpstream(options: UpstreamProbeOptions): Promise<Check> {
  try {
    return await probe(options);
  } catch (error) {
    // A bug or an answer no registry gives must cost one line of doctor's report, not the whole report.
    return {
      name: `upstream ${options.upstream}`,
      ok: false,
      detail: withoutCredentials(
        `the probe of ${options.url} failed: ${error instanceof Error ? error.message : String(error)}`,
        options.credentials,
      ),
      fix: `check the upstream URL (${options.url}): it must be the registry's API endpoint`,
    };
  }
}

async function probe(options: UpstreamProbeOptions): Promise<Check> {
  const name = `upstream ${options.upstream}`;
  const { credentials } = options;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const requestOptions = { caCertificatesPem: options.caCertificatesPem, timeoutMs };
  const apiUrl = `${options.url.replace(/\/+$/, '')}/v2/`;
  const who = credentials === undefined ? '' : JSON.stringify(credentials.username);
  const { loginFix } = options;
  // Whatever an upstream echoes back, the credentials never reach the report.
  const clean = (message: string): string => withoutAuthorization(message, credentials);
  const redact = (check: Check): Check => ({
    ...check,
    detail: withoutCredentials(check.detail, credentials),
    ...(check.fix ? { fix: withoutCredentials(check.fix, credentials) } : {}),
  });
  const failed = (url: string, error: NodeJS.ErrnoException): Check => ({
    name,
    ok: false,
    detail: requestFailure('GET', url, error).detail,
    fix: `check the upstream URL (${options.url}) and that this machine reaches it; the cache reaches it the same way from the cluster`,
  });
  const unexpected = (what: string, answer: HttpAnswer): Check => {
    const message = serverMessage(answer.body, clean);
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
    // A realm may be relative to the API (`realm="/token"`), as a browser would resolve it.
    const realm = new URL(bearer.params.realm, apiUrl);
    if (bearer.params.service !== undefined) realm.searchParams.set('service', bearer.params.service);
    const tokenUrl = realm.toString();
    let answer: HttpAnswer;
    try {
      answer = await get(
        tokenUrl,
        credentials ? { authorization: basicAuthorization(credentials) } : {},
        requestOptions,
      );
    } catch (error) {
      return redact(failed(tokenUrl, error as NodeJS.ErrnoException));
    }
    const message = serverMessage(answer.body, clean);
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
    // The cache cannot log in here whatever is stored: distribution's proxy hands credentials only to a
    // Bearer token realm, never as Basic auth (distribution#3153; measured with 2.8.2: 404 with right ones).
    const noBasic = `; a cache cannot log in to it anyway: distribution's proxy sends credentials only to a Bearer token realm, never as Basic auth (distribution#3153), so it answers "manifest unknown" for images ${options.upstream} holds and nodes pull from ${options.upstream} directly`;
    const basicFix = `the cache needs an upstream with token auth (WWW-Authenticate: Bearer realm=...): point it at such an address (private-registry cache rm ${options.upstream}, then private-registry cache add ${options.upstream} --remote-url https://...), or remove it (private-registry cache rm ${options.upstream}) and pull ${options.upstream} directly`;
    if (credentials === undefined) {
      return {
        name,
        ok: false,
        detail: `GET ${apiUrl}: 401, ${options.upstream} asks for a login (Basic) and no credentials are stored for it${noBasic}`,
        fix: basicFix,
      };
    }
    let answer: HttpAnswer;
    try {
      answer = await get(apiUrl, { authorization: basicAuthorization(credentials) }, requestOptions);
    } catch (error) {
      return redact(failed(apiUrl, error as NodeJS.ErrnoException));
    }
    if (answer.status === 200) {
      return redact({
        name,
        ok: false,
        detail: `GET ${apiUrl} with Basic auth: 200, logged in as ${who}, but only from here${noBasic}`,
        fix: basicFix,
      });
    }
    if (answer.status === 401 || answer.status === 403) {
      return redact({
        name,
        ok: false,
        detail: `${options.upstream} refused the stored credentials of ${who}: GET ${apiUrl} with Basic auth answered ${answer.status}${noBasic}`,
        fix: basicFix,
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
