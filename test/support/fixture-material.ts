import { join } from 'node:path';
import { type RegistryMaterial, readMaterial } from '../../lib';

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
