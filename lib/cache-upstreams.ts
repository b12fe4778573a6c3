import { ValidationError, assertHostname, assertPort } from './validate';

/**
 * The rules of pull-through caches, shared by the RegistryCache construct, the material directory and the
 * CLI: which upstreams there are, where each one really lives, which port its cache gets on the registry's
 * Service, and what a TTL looks like. No cdk8s here.
 */

/** The public registries a cache can be named for by name alone, and the URL each one serves its API at. */
export const KNOWN_CACHE_UPSTREAMS: Readonly<Record<string, string>> = {
  // docker.io images are served by registry-1.docker.io (containerd's docker.DefaultHost does the same).
  'docker.io': 'https://registry-1.docker.io',
  'ghcr.io': 'https://ghcr.io',
  'quay.io': 'https://quay.io',
  'registry.k8s.io': 'https://registry.k8s.io',
};

/**
 * The Service port of each known upstream's cache, so the same upstream gets the same port in every cluster
 * (and `cache add` in any order gives the same registries.yaml). Other upstreams get the next free port from
 * FIRST_OTHER_CACHE_PORT on.
 */
export const DEFAULT_CACHE_PORTS: Readonly<Record<string, number>> = {
  'docker.io': 5100,
  'ghcr.io': 5101,
  'quay.io': 5102,
  'registry.k8s.io': 5103,
};
/** Where the ports of caches for other upstreams start. */
export const FIRST_OTHER_CACHE_PORT = 5104;

/** distribution's own default: how long the cache keeps each manifest and layer it fetched. */
export const DEFAULT_CACHE_TTL = '168h';

/** An upstream, resolved: the name image references use, and the URL the cache pulls from. */
export interface CacheUpstream {
  /** The registry name in image references, e.g. "docker.io", "ghcr.io", "registry.example.com:8443". */
  readonly name: string;
  /** Where the cache pulls from (distribution's proxy.remoteurl), e.g. https://registry-1.docker.io. */
  readonly remoteUrl: string;
}

const KNOWN_LIST = Object.keys(KNOWN_CACHE_UPSTREAMS).join(', ');

/** A URL's scheme and `//` (RFC 3986), as an upstream given as a URL starts: "https://", "http://". */
const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** Whether `upstream` is given as a URL (any scheme: a wrong one is refused with its own message). */
export function isUpstreamUrl(upstream: string): boolean {
  return URL_SCHEME.test(upstream);
}

/**
 * Resolves `upstream` (a known name like "docker.io", or an https:// URL) and an optional `remoteUrl`
 * (where to pull from instead of the default, e.g. a mirror of Docker Hub). The name of a URL upstream is
 * its host[:port], which is what image references name.
 */
export function resolveCacheUpstream(upstream: string, remoteUrl?: string, field = 'upstream'): CacheUpstream {
  if (typeof upstream !== 'string' || upstream === '') {
    throw new ValidationError(
      `'${field}' must be one of ${KNOWN_LIST} or an https:// URL, got ${JSON.stringify(upstream)}: e.g. "docker.io"`,
    );
  }
  if (isUpstreamUrl(upstream)) {
    const url = parseHttpsUrl(field, upstream);
    if (remoteUrl !== undefined && parseHttpsUrl('remoteUrl', remoteUrl) !== url) {
      throw new ValidationError(
        `'remoteUrl' is ${JSON.stringify(remoteUrl)} but '${field}' is already the URL ${JSON.stringify(upstream)}: give the upstream's name (e.g. "docker.io") with 'remoteUrl', or the URL alone`,
      );
    }
    const name = new URL(url).host;
    if (name.startsWith('[')) {
      throw new ValidationError(
        `'${field}' must name the registry by a hostname, got the IPv6 address ${JSON.stringify(upstream)}: image references cannot name a registry by an IPv6 address; give it a DNS name (e.g. registry.example.com:5000) with its address as 'remoteUrl'`,
      );
    }
    assertNotLoopback(field, name);
    // Checked as the caches file's reader checks it, so what is stored can be read back.
    assertUpstreamName(field, name);
    // https://docker.io is the known upstream docker.io, whose images registry-1.docker.io serves.
    return { name, remoteUrl: remoteUrl === undefined ? (KNOWN_CACHE_UPSTREAMS[name] ?? url) : url };
  }
  const name = upstream.toLowerCase();
  const known = KNOWN_CACHE_UPSTREAMS[name];
  if (remoteUrl !== undefined) {
    assertUpstreamName(field, upstream);
    assertNotLoopback(field, name);
    const url = parseHttpsUrl('remoteUrl', remoteUrl);
    assertNotLoopback('remoteUrl', new URL(url).host);
    return { name, remoteUrl: url };
  }
  if (known === undefined) {
    const shown = withoutUserinfo(upstream);
    throw new ValidationError(
      `'${field}' must be one of ${KNOWN_LIST} or an https:// URL, got ${JSON.stringify(shown)}: write it as https://${shown}, or give 'remoteUrl' for where its images are served`,
    );
  }
  return { name, remoteUrl: known };
}

/**
 * Refuses localhost and loopback addresses: the cache runs in a pod, where they are the pod itself, and the
 * nodes' registries.yaml names the desktop's push address `localhost:<nodePort>`.
 */
function assertNotLoopback(field: string, host: string): void {
  // localhost. is localhost; 0.0.0.0 and :: reach the pod itself too.
  const hostname = host
    .replace(/:\d+$/, '')
    .replace(/^\[|\]$/g, '')
    .replace(/\.+$/, '');
  if (/^localhost$/i.test(hostname) || /^(127|0)\./.test(hostname) || hostname === '::1' || hostname === '::') {
    throw new ValidationError(
      `'${field}' must not be localhost or a loopback address, got ${JSON.stringify(host)}: the cache runs in a pod, where that is the pod itself; give the registry's name on the network`,
    );
  }
}

/**
 * Refuses an upstream on the registry's own hostname (`<hostname>:<port>` is the registry's own mirror in
 * registries.yaml, which a cache's mirror would replace; localhost:<nodePort> is refused as loopback).
 */
export function assertNotTheRegistry(field: string, upstreamName: string, registryHostname: string): void {
  if (upstreamName.replace(/:\d+$/, '') === registryHostname.toLowerCase()) {
    throw new ValidationError(
      `'${field}' must not be the registry itself, got ${JSON.stringify(upstreamName)} (on its hostname ${registryHostname}): a cache of it would take over the registry's own mirror in registries.yaml; push images to the registry, and cache only other registries`,
    );
  }
}

/** A registry name as image references give it: a hostname with an optional port, lowercase. */
function assertUpstreamName(field: string, value: string): void {
  const match = /^([^:]+)(?::(\d+))?$/.exec(value);
  if (match === null || value !== value.toLowerCase() || !match[1].includes('.')) {
    throw new ValidationError(
      `'${field}' must be a registry name as image references write it (a lowercase hostname with a dot, and an optional :port), got ${JSON.stringify(withoutUserinfo(value))}: e.g. "registry.example.com"`,
    );
  }
  assertHostname(field, match[1]);
  if (match[2] !== undefined) assertPort(field, Number(match[2]));
}

/** An https:// URL of a registry: host and optional port, nothing else (distribution proxies a whole registry). */
function parseHttpsUrl(field: string, value: string): string {
  const shown = JSON.stringify(withoutUserinfo(value));
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationError(
      `'${field}' must be an https:// URL like "https://registry.example.com", got ${shown}: write the registry's address with https://`,
    );
  }
  if (url.protocol !== 'https:') {
    throw new ValidationError(
      `'${field}' must use https://, got ${shown}: the cache would fetch images and send the upstream credentials in clear; use the registry's https:// address`,
    );
  }
  if (url.username !== '' || url.password !== '') {
    throw new ValidationError(
      `'${field}' must not hold credentials, got ${shown}: give the address alone, and the account with private-registry cache login (or 'credentials')`,
    );
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
    throw new ValidationError(
      `'${field}' must be only https://host[:port], got ${shown}: leave out paths and queries (a cache proxies a whole registry)`,
    );
  }
  // Normalized as new URL() reads it (lowercase, no :443), so a URL given twice compares equal.
  return `https://${url.host}`;
}

/** `value` with any user:password@ part replaced, for messages: it may hold a token. */
function withoutUserinfo(value: string): string {
  const at = value.lastIndexOf('@');
  if (at < 0) return value;
  const scheme = URL_SCHEME.exec(value)?.[0] ?? '';
  return `${scheme}<credentials>@${value.slice(at + 1)}`;
}

/**
 * A cache's short name for Kubernetes objects and labels: the upstream name with every character that is
 * not a letter or digit as '-', e.g. docker.io → docker-io, registry.example.com:8443 → registry-example-com-8443.
 */
export function cacheSlug(upstreamName: string): string {
  return upstreamName
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/**
 * The names of a cache's objects, for RegistryCache and for the commands that tell which to delete:
 * `<registry>-cache-<slug>` (its Deployment and PersistentVolumeClaim) and `<that>-upstream` (the Secret with
 * its upstream account).
 */
export function cacheObjectNames(
  serviceName: string,
  upstreamName: string,
): { readonly name: string; readonly upstreamSecret: string } {
  const name = `${serviceName}-cache-${cacheSlug(upstreamName)}`;
  return { name, upstreamSecret: `${name}-upstream` };
}

/**
 * The named port of a cache's container, which the Service's port targets (an IANA service name, at most 15
 * characters): cache-5100.
 */
export function cachePortName(port: number): string {
  return `cache-${port}`;
}

/** Nanoseconds per unit of a Go duration (time.ParseDuration's units). */
const DURATION_UNIT_NS: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};
const MIN_CACHE_TTL_NS = DURATION_UNIT_NS.s;
/** Just under Go's largest time.Duration (2562047h47m16.85s): beyond it the cache pod cannot start. */
const MAX_CACHE_TTL_HOURS = 2562047n;

/**
 * Throws unless `value` is a Go duration distribution accepts as a TTL, like "168h", "30m" or "1h30m", from 1s
 * to 2562047h: 0 means "never expire" in registry 3, and more overflows Go's time.ParseDuration.
 */
export function assertCacheTtl(field: string, value: string): void {
  const refuse = (why: string) =>
    new ValidationError(
      `'${field}' must be a duration like "168h", "24h" or "90m", got ${JSON.stringify(value)}: ${why}`,
    );
  if (typeof value !== 'string' || !/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(value)) {
    throw refuse('write a positive number with a unit h, m or s');
  }
  // Summed exactly in nanoseconds (a fraction's remainder below 1ns dropped, as Go does).
  let total = 0n;
  for (const [, whole, fraction = '', unit] of value.matchAll(/([0-9]+)(?:\.([0-9]+))?(ns|us|µs|ms|s|m|h)/g)) {
    const perUnit = DURATION_UNIT_NS[unit];
    total += BigInt(whole) * perUnit + (BigInt(fraction || '0') * perUnit) / 10n ** BigInt(fraction.length);
  }
  if (total < MIN_CACHE_TTL_NS) {
    throw refuse('under 1s is taken as 0, which registry 3 reads as "never expire"; give at least 1s, e.g. 168h');
  }
  if (total > MAX_CACHE_TTL_HOURS * DURATION_UNIT_NS.h) {
    throw refuse(
      `over ${MAX_CACHE_TTL_HOURS}h overflows Go's time.Duration and the cache pod would not start; give e.g. 8760h (a year)`,
    );
  }
}

/** A cache's place on the Service: its upstream and port. */
export interface CachePortUse {
  readonly upstream: string;
  readonly port: number;
}

/**
 * The port a new cache for `upstream` gets: its known default, unless taken; else the first free one from
 * FIRST_OTHER_CACHE_PORT on. `taken` holds every port already on the Service (the registry's included).
 */
export function nextCachePort(upstream: string, taken: readonly number[]): number {
  const preferred = DEFAULT_CACHE_PORTS[upstream];
  if (preferred !== undefined && !taken.includes(preferred)) return preferred;
  let port = FIRST_OTHER_CACHE_PORT;
  while (taken.includes(port)) port++;
  return port;
}

/**
 * Refuses two caches for one upstream or with one name in Kubernetes (cacheSlug), and a cache port that
 * another cache or the registry (`reserved`: its port, its metrics port) already uses. `field` names the list
 * in messages, e.g. 'caches'.
 */
export function assertCachesDistinct(
  field: string,
  caches: readonly CachePortUse[],
  reserved: Readonly<Record<string, number>>,
): void {
  const seen = new Map<string, number>();
  const slugs = new Map<string, number>();
  const ports = new Map<number, string>();
  caches.forEach((cache, index) => {
    const earlier = seen.get(cache.upstream);
    if (earlier !== undefined) {
      throw new ValidationError(
        `'${field}[${index}]' is a second cache for ${JSON.stringify(cache.upstream)} (also '${field}[${earlier}]'): one upstream has one cache; remove one of them`,
      );
    }
    seen.set(cache.upstream, index);
    const slug = cacheSlug(cache.upstream);
    const sameSlug = slugs.get(slug);
    if (sameSlug !== undefined) {
      throw new ValidationError(
        `'${field}[${index}]' (${JSON.stringify(cache.upstream)}) and '${field}[${sameSlug}]' (${JSON.stringify(caches[sameSlug].upstream)}) would both be named ${JSON.stringify(slug)} in Kubernetes objects and labels: keep one of them, or name the other upstream differently (another DNS name for it, with its address as 'remoteUrl')`,
      );
    }
    slugs.set(slug, index);
    for (const [what, port] of Object.entries(reserved)) {
      if (cache.port === port) {
        throw new ValidationError(
          `'${field}[${index}].port' is ${port}, which is the registry's ${what}: pick another port for the ${cache.upstream} cache, e.g. ${nextCachePort(cache.upstream, [...Object.values(reserved), ...caches.map((other) => other.port)])}`,
        );
      }
    }
    const other = ports.get(cache.port);
    if (other !== undefined) {
      throw new ValidationError(
        `'${field}[${index}].port' is ${cache.port}, which the ${other} cache already uses: each cache needs a port of its own on the registry's Service; pick another one`,
      );
    }
    ports.set(cache.port, cache.upstream);
  });
}
