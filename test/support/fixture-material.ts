import { join } from 'node:path';
import { type RegistryCacheOptions, type RegistryChartMaterial, type RegistryMaterial, readMaterial } from '../../lib';
import { DEFAULT_CACHE_PORTS, resolveCacheUpstream } from '../../lib/cache-upstreams';
import { NODE_CA_FILE } from '../../lib/material';
import { nodeRegistriesConfig } from '../../lib/registries-yaml';

/** The committed fixture material (fixed keys, password "fixture-password"): no randomness in snapshots. */
export const FIXTURE_MATERIAL_DIR = join(__dirname, '..', 'fixtures', 'material');

export function fixtureMaterial(): RegistryMaterial {
  return readMaterial(FIXTURE_MATERIAL_DIR);
}

/** Material for CUSTOM_MATERIAL_OPTIONS (images.local, Service images in namespace registry, 5443, 30500). */
export function customFixtureMaterial(): RegistryMaterial {
  return readMaterial(join(__dirname, '..', 'fixtures', 'material-custom'));
}

type ManifestObject = { kind: string; metadata: { name: string; namespace?: string } } & Record<string, any>;

/** The one object of `kind` (and `name`, when given) in synthesized manifests. */
export function findObject(manifests: any[], kind: string, name?: string): ManifestObject {
  const matches = manifests.filter(
    (object) => object.kind === kind && (name === undefined || object.metadata.name === name),
  );
  if (matches.length !== 1) throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${matches.length}`);
  return matches[0];
}

/**
 * The fixture material with its registries.yaml mirroring `caches` (known upstreams named as such), as
 * `private-registry cache add` would write it.
 */
export function fixtureMaterialWithCaches(caches: readonly RegistryCacheOptions[]): RegistryChartMaterial {
  const material = fixtureMaterial();
  return {
    ...material,
    registries: nodeRegistriesConfig({
      hostname: 'container-registry.local',
      registryPort: 5000,
      nodePort: 31113,
      credentials: material.nodeCredentials,
      caFile: NODE_CA_FILE,
      caches: caches.map((cache) => {
        const upstream = resolveCacheUpstream(cache.upstream, cache.remoteUrl).name;
        return { upstream, port: cache.port ?? DEFAULT_CACHE_PORTS[upstream] };
      }),
    }),
    caches,
  };
}
