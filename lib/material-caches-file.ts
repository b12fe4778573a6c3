import fs from 'node:fs';
import path from 'node:path';
import {
  DEFAULT_CACHE_TTL,
  assertCacheTtl,
  assertCachesDistinct,
  assertNotTheRegistry,
  nextCachePort,
  resolveCacheUpstream,
} from './cache-upstreams';
import { DEFAULT_METRICS_PORT } from './defaults';
import type { Credentials } from './htpasswd';
import { type CacheMirrorDifference, type NodeCacheMirror, cacheMirrorDifferences } from './registries-yaml';
import { ValidationError, assertPort } from './validate';

/**
 * The material's pull-through caches: one desktop-only file (never under node/), 0600 in a 0700 directory,
 * because it holds the upstream credentials. Absent means no caches. What the nodes need of it (each
 * upstream's mirror at <hostname>:<port>) is in registries.yaml and certs.d, rewritten in the same
 * transaction as this file.
 */
export const CACHES_FILE = 'caches/upstreams.json';

/** A cache as the material stores it: every setting resolved, so the file alone says what is deployed. */
export interface MaterialCache {
  /** The registry name in image references, e.g. docker.io. */
  readonly upstream: string;
  /** Where the cache pulls from. */
  readonly remoteUrl: string;
  /** Its port on the registry's Service. */
  readonly port: number;
  /** How long the cache keeps each manifest and layer it fetched before deleting it, e.g. 168h. */
  readonly ttl: string;
  /** The account at the upstream. @default - anonymous pulls */
  readonly credentials?: Credentials;
}

/** What a new cache is asked for with: the upstream and, optionally, the rest. */
export interface CacheRequest {
  /** docker.io, ghcr.io, quay.io, registry.k8s.io, or an https:// URL. */
  readonly upstream: string;
  /** @default - the upstream's own address */
  readonly remoteUrl?: string;
  /** @default - the upstream's default port (docker.io 5100 ...), else the next free one from 5104 */
  readonly port?: number;
  /** @default '168h' */
  readonly ttl?: string;
}

/** Where the registry itself is: what a cache may not be, nor take a port of. */
export interface CachesRegistryAddress {
  /** The name the nodes use for the registry, e.g. container-registry.local. */
  readonly hostname: string;
  readonly registryPort: number;
}

/**
 * `requested` added to `existing`, each resolved (name, remote URL, TTL) and given a port that neither the
 * registry (its port, the metrics port) nor another cache uses. Refuses a second cache of an upstream, and a
 * cache of the registry itself.
 */
export function resolveMaterialCaches(
  existing: readonly MaterialCache[],
  requested: readonly CacheRequest[],
  { hostname, registryPort }: CachesRegistryAddress,
): MaterialCache[] {
  const caches = [...existing];
  for (const request of requested) {
    const { name, remoteUrl } = resolveCacheUpstream(request.upstream, request.remoteUrl);
    assertNotTheRegistry('upstream', name, hostname);
    if (caches.some((cache) => cache.upstream === name)) {
      throw new ValidationError(
        `there is already a cache for ${JSON.stringify(name)}: one upstream has one cache; remove it first (private-registry cache rm ${name}) to change its settings`,
      );
    }
    if (request.port !== undefined) assertPort('port', request.port);
    const ttl = request.ttl ?? DEFAULT_CACHE_TTL;
    assertCacheTtl('ttl', ttl);
    const taken = [registryPort, DEFAULT_METRICS_PORT, ...caches.map((cache) => cache.port)];
    caches.push({ upstream: name, remoteUrl, port: request.port ?? nextCachePort(name, taken), ttl });
  }
  assertCachesDistinct('caches', caches, { port: registryPort, 'metrics port': DEFAULT_METRICS_PORT });
  return caches;
}

/** The caches file's content: `{ "caches": [...] }`, one entry per cache in the order they were added. */
export function renderCachesFile(caches: readonly MaterialCache[]): string {
  return `${JSON.stringify({ caches }, null, 2)}\n`;
}

const CACHE_FIELDS = ['upstream', 'remoteUrl', 'port', 'ttl', 'credentials'];

/** Parses and checks the caches file's content; `file` names it in errors. Never echoes a credential. */
export function parseCachesFile(text: string, file: string): MaterialCache[] {
  const broken = (why: string) =>
    new ValidationError(
      `${file} ${why}: restore it from a backup, or remove the caches and add them again (private-registry cache rm / cache add)`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw broken('is not JSON');
  }
  const list = (parsed as { caches?: unknown } | null)?.caches;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || !Array.isArray(list)) {
    throw broken('must be a JSON object { "caches": [...] }');
  }
  const caches = list.map((entry: unknown, index): MaterialCache => {
    const where = `caches[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw broken(`${where} is not an object`);
    const record = entry as Record<string, unknown>;
    const unknown = Object.keys(record).filter((key) => !CACHE_FIELDS.includes(key));
    if (unknown.length > 0) throw broken(`${where} has unknown fields ${unknown.join(', ')}`);
    const { upstream, remoteUrl, port, ttl, credentials } = record;
    if (typeof upstream !== 'string' || typeof remoteUrl !== 'string' || typeof ttl !== 'string') {
      throw broken(`${where} needs upstream, remoteUrl and ttl as strings`);
    }
    if (typeof port !== 'number') throw broken(`${where}.port must be a number`);
    try {
      const resolved = resolveCacheUpstream(upstream, remoteUrl);
      if (resolved.name !== upstream)
        throw broken(`${where}.upstream ${JSON.stringify(upstream)} is not a registry name`);
      assertPort('port', port);
      assertCacheTtl('ttl', ttl);
    } catch (error) {
      // Unquoted: these are fields of the file, not props or flags to be renamed.
      if (error instanceof ValidationError && !error.message.startsWith(file))
        throw broken(`${where} holds a bad setting (${error.message.replace(/'(\w+)'/g, '$1')})`);
      throw error;
    }
    if (credentials === undefined) return { upstream, remoteUrl, port, ttl };
    const { username, password } = (credentials ?? {}) as Record<string, unknown>;
    if (typeof username !== 'string' || username === '' || typeof password !== 'string' || password === '') {
      // Never the value: it may be a token.
      throw broken(`${where}.credentials need a non-empty username and password`);
    }
    return { upstream, remoteUrl, port, ttl, credentials: { username, password } };
  });
  try {
    assertCachesDistinct('caches', caches, {});
  } catch (error) {
    if (error instanceof ValidationError)
      throw broken(`holds clashing caches (${error.message.replace(/'([\w.[\]]+)'/g, '$1')})`);
    throw error;
  }
  return caches;
}

/** The caches stored in `dir` (empty when there is no caches file), checked. */
export function readCachesFile(dir: string): MaterialCache[] {
  const file = path.join(dir, CACHES_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new ValidationError(`${file} is unreadable: restore it from a backup, or fix its permissions (chmod 600)`);
  }
  return parseCachesFile(text, file);
}

/**
 * What differs between the caches the caches file holds and the ones registries.yaml mirrors (upstream and
 * port), in words; undefined when they are the same.
 */
export function cachesDisagreement(
  caches: readonly NodeCacheMirror[],
  mirrored: readonly NodeCacheMirror[],
): string | undefined {
  const problems = cacheMirrorDifferences(caches, mirrored).map(cacheMirrorDifferenceInWords);
  return problems.length === 0 ? undefined : problems.join('; ');
}

function cacheMirrorDifferenceInWords(difference: CacheMirrorDifference): string {
  switch (difference.kind) {
    case 'not mirrored':
      return `the ${difference.cache.upstream} cache is not mirrored in registries.yaml`;
    case 'other port':
      return `the ${difference.cache.upstream} cache is on port ${difference.cache.port}, registries.yaml mirrors it to port ${difference.mirrorPort}`;
    case 'no cache':
      return `registries.yaml mirrors ${difference.mirror.upstream} to port ${difference.mirror.port}, which no cache serves`;
  }
}
