import path from 'node:path';
import { NODE_DIR, NODE_MATERIAL_MOUNT_PATH } from './defaults';

/**
 * Where each file of the material directory lives: paths only. Kept apart from material.ts, which reads,
 * checks and makes the material (certificates, bcrypt, registries.yaml): a module or command that only
 * names a path (shell hints, the layout check, k3d-config's volume) loads none of that.
 */

/** Paths inside the material directory. */
export const MATERIAL_FILES = {
  caCertificate: `${NODE_DIR}/certs/ca.crt`,
  caKey: 'certs/ca.key',
  tlsCertificate: 'certs/tls.crt',
  tlsKey: 'certs/tls.key',
  registriesYaml: `${NODE_DIR}/certs/registries.yaml`,
  htpasswd: 'auth/htpasswd',
  password: 'auth/password',
} as const;

/** A path inside the material directory. */
export type MaterialFile = (typeof MATERIAL_FILES)[keyof typeof MATERIAL_FILES];

/** Files holding a key or a credential: written 0600; doctor requires no group or other access. */
export const SECRET_MATERIAL_FILES: readonly MaterialFile[] = [
  MATERIAL_FILES.caKey,
  MATERIAL_FILES.tlsKey,
  MATERIAL_FILES.registriesYaml,
  MATERIAL_FILES.htpasswd,
  MATERIAL_FILES.password,
];

/**
 * Where the registry's S3 settings and access key live in the material directory: desktop-only (never in
 * the nodes' part), 0600 in a 0700 directory. Absent means the registry keeps its PersistentVolumeClaim.
 */
export const S3_STORAGE_FILE = 'storage/s3.json';

/** The containerd hosts directory (`config_path`) inside the material directory. */
export const CONTAINERD_HOSTS_DIR = `${NODE_DIR}/certs.d`;

/**
 * Where a node sees a path of the node directory, given the volume `<material>/node:/registry:ro`:
 * `node/certs/ca.crt` → `/registry/certs/ca.crt`, the guide's paths.
 */
export function nodePathOf(relativePath: string): string {
  const inNodeDir = path.posix.relative(NODE_DIR, relativePath);
  if (inNodeDir.startsWith('..')) throw new Error(`${relativePath} is not in the node directory ${NODE_DIR}/`);
  return `${NODE_MATERIAL_MOUNT_PATH}/${inNodeDir}`;
}

/** Where the nodes find the CA: /registry/certs/ca.crt. */
export const NODE_CA_FILE = nodePathOf(MATERIAL_FILES.caCertificate);
