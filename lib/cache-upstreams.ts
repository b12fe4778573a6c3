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
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(upstream)) {
    const url = parseHttpsUrl(field, upstream);
    if (remoteUrl !== undefined && parseHttpsUrl('remoteUrl', remoteUrl) !== url) {
      throw new ValidationError(
        `'remoteUrl' is ${JSON.stringify(remoteUrl)} but '${field}' is already the URL ${JSON.stringify(upstream)}: give the upstream's name (e.g. "docker.io") with 'remoteUrl', or the URL alone`,
      );
    }
    const name = new URL(url).host;
    assertNotLoopback(field, name);
    return { name, remoteUrl: url };
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
    throw new ValidationError(
      `'${field}' must be one of ${KNOWN_LIST} or an https:// URL, got ${JSON.stringify(upstream)}: write it as https://${upstream}, or give 'remoteUrl' for where its images are served`,
    );
  }
  return { name, remoteUrl: known };
}

/**
 * Refuses localhost and loopback addresses: the cache runs in a pod, where they are the pod itself, and the
 * nodes' registries.yaml names the desktop's push address `localhost:<nodePort>`.
 */
function assertNotLoopback(field: string, host: string): void {
  const hostname = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (/^localhost$/i.test(hostname) || /^127\./.test(hostname) || hostname === '::1') {
    throw new ValidationError(
      `'${field}' must not be localhost or a loopback address, got ${JSON.stringify(host)}: the cache runs in a pod, where that is the pod itself; give the registry's name on the network`,
    );
  }
}

/** A registry name as image references give it: a hostname with an optional port, lowercase. */
function assertUpstreamName(field: string, value: string): void {
  const match = /^([^:]+)(?::(\d+))?$/.exec(value);
  if (match === null || value !== value.toLowerCase() || !match[1].includes('.')) {
    throw new ValidationError(
      `'${field}' must be a registry name as image references write it (a lowercase hostname with a dot, and an optional :port), got ${JSON.stringify(value)}: e.g. "registry.example.com"`,
    );
  }
  assertHostname(field, match[1]);
  if (match[2] !== undefined) assertPort(field, Number(match[2]));
}

/** An https:// URL of a registry: host and optional port, nothing else (distribution proxies a whole registry). */
function parseHttpsUrl(field: string, value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ValidationError(
      `'${field}' must be an https:// URL like "https://registry.example.com", got ${JSON.stringify(value)}: write the registry's address with https://`,
    );
  }
  if (url.protocol !== 'https:') {
    throw new ValidationError(
      `'${field}' must use https://, got ${JSON.stringify(value)}: the cache would fetch images and send the upstream credentials in clear; use the registry's https:// address`,
    );
  }
  if (
    url.username !== '' ||
    url.password !== '' ||
    (url.pathname !== '/' && url.pathname !== '') ||
    url.search ||
    url.hash
  ) {
    throw new ValidationError(
      `'${field}' must be only https://host[:port], got ${JSON.stringify(value)}: leave out credentials (they go to 'credentials' / cache login), paths and queries`,
    );
  }
  // Normalized as new URL() reads it (lowercase, no :443), so a URL given twice compares equal.
  return `https://${url.host}`;
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
 * The named port of a cache's container, which the Service's port targets (an IANA service name, at most 15
 * characters): cache-5100.
 */
export function cachePortName(port: number): string {
  return `cache-${port}`;
}

/** Throws unless `value` is a Go duration distribution accepts as a TTL, like "168h", "30m" or "1h30m". */
export function assertCacheTtl(field: string, value: string): void {
  if (
    typeof value !== 'string' ||
    !/^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$/.test(value) ||
    /^0+(\D+)$/.test(value)
  ) {
    throw new ValidationError(
      `'${field}' must be a duration like "168h", "24h" or "90m", got ${JSON.stringify(value)}: write a positive number with a unit h, m or s`,
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
 * Refuses two caches for one upstream, and a cache port that another cache or the registry (`reserved`: its
 * port, its metrics port) already uses. `field` names the list in messages, e.g. 'caches'.
 */
export function assertCachesDistinct(
  field: string,
  caches: readonly CachePortUse[],
  reserved: Readonly<Record<string, number>>,
): void {
  const seen = new Map<string, number>();
  const ports = new Map<number, string>();
  caches.forEach((cache, index) => {
    const earlier = seen.get(cache.upstream);
    if (earlier !== undefined) {
      throw new ValidationError(
        `'${field}[${index}]' is a second cache for ${JSON.stringify(cache.upstream)} (also '${field}[${earlier}]'): one upstream has one cache; remove one of them`,
      );
    }
    seen.set(cache.upstream, index);
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
