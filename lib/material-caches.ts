import fs from 'node:fs';
import path from 'node:path';
import { SECRET_FILE_MODE } from './atomic-file';
import { isUpstreamUrl, resolveCacheUpstream } from './cache-upstreams';
import { type Credentials, validateUsername } from './htpasswd';
import {
  MATERIAL_FILES,
  type RegistryMaterial,
  assertCachesReadBack,
  materialAddressesOf,
  nodeConfigKey,
  readAgreeingCaches,
  readMaterial,
  readMaterialRegistries,
} from './material';
import {
  CACHES_FILE,
  type CacheRequest,
  type MaterialCache,
  renderCachesFile,
  resolveMaterialCaches,
} from './material-caches-file';
import { assertMaterialDir, containerdHostsChange } from './material-dir';
import { type MaterialChange, commitMaterialChange, underMaterialLock } from './material-transaction';
import { type RegistriesConfig, cacheMirrorsOf, renderRegistriesYaml } from './registries-yaml';
import { ValidationError } from './validate';

/**
 * The pull-through caches of the material directory: add, remove, list, and give an upstream's credentials.
 * Each change is one transaction under the material lock (commitMaterialChange): the caches file, the nodes'
 * registries.yaml and certs.d change together or not at all, so the nodes never mirror an upstream to a cache
 * the manifests do not deploy. The upstream credentials stay in the caches file (0600, outside node/).
 */

/** A cache as `cache list` shows it: everything but the upstream password. */
export interface MaterialCacheSummary {
  readonly upstream: string;
  readonly remoteUrl: string;
  readonly port: number;
  readonly ttl: string;
  /** Where the nodes pull through it, e.g. container-registry.local:5100. */
  readonly endpoint: string;
  /** The upstream user, when credentials are stored. @default - anonymous */
  readonly username?: string;
}

/** Adds a cache for `request.upstream`; returns it as stored (its port chosen when not given). */
export function addMaterialCache(dir: string, request: CacheRequest): MaterialCache {
  return underMaterialLock(dir, () => {
    const { material, caches } = readCaches(dir);
    const updated = resolveMaterialCaches(caches, [request], materialAddressesOf(material.registries));
    commitMaterialChange(dir, cachesChange(dir, material, updated));
    return updated[updated.length - 1];
  });
}

/** Removes the cache of `upstream` (a name or its https:// URL); the nodes pull it from the upstream again. */
export function removeMaterialCache(dir: string, upstream: string): MaterialCache {
  return underMaterialLock(dir, () => {
    const { material, caches } = readCaches(dir);
    const removed = findCache(dir, caches, upstream);
    commitMaterialChange(
      dir,
      cachesChange(
        dir,
        material,
        caches.filter((cache) => cache !== removed),
      ),
    );
    return removed;
  });
}

/**
 * Stores the account the cache of `upstream` logs in to the upstream with (replacing any), or forgets it
 * (`credentials` undefined: anonymous pulls). Only the caches file changes: the nodes never see it.
 */
export function setMaterialCacheCredentials(
  dir: string,
  upstream: string,
  credentials: Credentials | undefined,
): MaterialCache {
  if (credentials !== undefined) {
    validateUsername(credentials.username);
    if (credentials.password === '') {
      throw new ValidationError(
        'the upstream token or password read from stdin is empty: pipe it in, e.g. --password-stdin < token.txt',
      );
    }
  }
  return underMaterialLock(dir, () => {
    const { material, caches } = readCaches(dir);
    const cache = findCache(dir, caches, upstream);
    const { credentials: _old, ...settings } = cache;
    const changed: MaterialCache = credentials === undefined ? settings : { ...settings, credentials };
    commitMaterialChange(
      dir,
      cachesChange(
        dir,
        material,
        caches.map((other) => (other === cache ? changed : other)),
      ),
    );
    return changed;
  });
}

/** The caches of the material, without their upstream passwords. */
export function listMaterialCaches(dir: string): MaterialCacheSummary[] {
  // The caches file and registries.yaml (whose mirrors it must match) alone: no certificate shows in the list.
  const { caches, hostname } = underMaterialLock(
    dir,
    () => {
      assertMaterialDir(dir);
      const { registries, addresses } = readMaterialRegistries(dir);
      return { caches: readAgreeingCaches(dir, registries, addresses), hostname: addresses.hostname };
    },
    { reader: true },
  );
  return caches.map((cache) => ({
    upstream: cache.upstream,
    remoteUrl: cache.remoteUrl,
    port: cache.port,
    ttl: cache.ttl,
    endpoint: `${hostname}:${cache.port}`,
    ...(cache.credentials === undefined ? {} : { username: cache.credentials.username }),
  }));
}

/**
 * `registries` mirroring exactly `caches`: the cache mirrors it had are replaced, everything else is kept. Each
 * upstream is mirrored to https://<hostname>:<port> alone (k3s adds the upstream's own endpoint last), and
 * `configs` keyed by that endpoint gets the registry endpoint's credentials and CA (the same users).
 */
export function withCacheMirrors(
  registries: RegistriesConfig,
  caches: readonly { readonly upstream: string; readonly port: number }[],
): RegistriesConfig {
  const { hostname, registryPort } = materialAddressesOf(registries);
  const old = cacheMirrorsOf(registries, hostname, registryPort);
  const endpointOf = (port: number): string => `${hostname}:${port}`;
  const oldEndpoints = new Set(old.map((cache) => endpointOf(cache.port)));
  const oldUpstreams = new Set(old.map((cache) => cache.upstream));
  const registryConfig = registries.configs?.[nodeConfigKey(registries) ?? ''] ?? {};
  return {
    mirrors: {
      ...Object.fromEntries(Object.entries(registries.mirrors).filter(([name]) => !oldUpstreams.has(name))),
      ...Object.fromEntries(
        caches.map((cache) => [cache.upstream, { endpoint: [`https://${endpointOf(cache.port)}`] }]),
      ),
    },
    configs: {
      ...Object.fromEntries(Object.entries(registries.configs ?? {}).filter(([key]) => !oldEndpoints.has(key))),
      ...Object.fromEntries(caches.map((cache) => [endpointOf(cache.port), registryConfig])),
    },
  };
}

/** The change that stores `caches`: the caches file, registries.yaml and certs.d, together. */
function cachesChange(dir: string, material: RegistryMaterial, caches: readonly MaterialCache[]): MaterialChange {
  const registries = withCacheMirrors(material.registries, caches);
  assertCachesReadBack(path.join(dir, CACHES_FILE), caches, registries, material.registries);
  const hosts = containerdHostsChange(dir, registries);
  const cachesFile: MaterialChange =
    caches.length === 0
      ? { write: [], remove: fs.existsSync(path.join(dir, CACHES_FILE)) ? [CACHES_FILE] : [] }
      : { write: [{ relativePath: CACHES_FILE, content: renderCachesFile(caches), mode: SECRET_FILE_MODE }] };
  return {
    write: [
      ...cachesFile.write,
      {
        relativePath: MATERIAL_FILES.registriesYaml,
        content: renderRegistriesYaml(registries),
        mode: SECRET_FILE_MODE,
      },
      ...hosts.write,
    ],
    remove: [...(cachesFile.remove ?? []), ...hosts.remove],
  };
}

function readCaches(dir: string): { material: RegistryMaterial; caches: readonly MaterialCache[] } {
  assertMaterialDir(dir);
  // Caches can be managed while a certificate renewal is due, like users; synth refuses expired ones.
  const material = readMaterial(dir, { requireCurrentCertificates: false });
  // readMaterial read the caches file already, and checked it against registries.yaml.
  return { material, caches: material.caches ?? [] };
}

function findCache(dir: string, caches: readonly MaterialCache[], upstream: string): MaterialCache {
  // A cache added as https://host is named host: accept either.
  let name = upstream.toLowerCase();
  if (isUpstreamUrl(upstream)) {
    try {
      name = resolveCacheUpstream(upstream).name;
    } catch {
      // Not a URL a cache could have: the message below lists the ones there are.
    }
  }
  const cache = caches.find((candidate) => candidate.upstream === name);
  if (cache === undefined) {
    const names = caches.map((candidate) => candidate.upstream).join(', ');
    throw new ValidationError(
      `no cache for ${JSON.stringify(upstream)} in ${path.join(dir, CACHES_FILE)}: ${caches.length === 0 ? 'there are no caches; add one with private-registry cache add docker.io' : `the caches are ${names}`}`,
    );
  }
  return cache;
}
