/**
 * The package root: the constructs, the material functions and their types. CLI internals (file writing,
 * shell quoting, doctor's checks, probes) stay in their modules; the CLI imports them from there.
 * test/public-surface.test.ts pins this list, so it only grows on purpose.
 */

// Constructs.
export { PrivateApp } from './private-app';
export { RegistryChart, type RegistryChartMaterial, type RegistryChartProps } from './registry-chart';
export {
  type IRegistryService,
  RegistryServer,
  type RegistryServerMaterial,
  type RegistryServerProps,
  type StorageAccessMode,
  serviceDnsName,
} from './registry-server';
export {
  type PersistentVolumeStorageOptions,
  RegistryStorage,
  type S3Credentials,
  type S3StorageOptions,
} from './registry-storage';
export { type IRegistryAuth, RegistryAuth, type RegistryAuthMaterial, type RegistryAuthProps } from './registry-auth';
export { NodeHostsDaemonSet, type NodeHostsDaemonSetProps, type NodeHostsMaterial } from './node-hosts-daemon-set';
export {
  RegistryCache,
  type IRegistryCacheHost,
  type RegistryCacheOptions,
  type RegistryCacheProps,
} from './registry-cache';
export {
  LocalRegistryHosting,
  type LocalRegistryHostingProps,
  type PullThroughCacheHosting,
} from './local-registry-hosting';
export { RegistryGarbageCollection, type RegistryGarbageCollectionProps } from './registry-garbage-collection';

// The material directory.
export {
  MATERIAL_FILES,
  type MaterialFile,
  type MaterialOptions,
  type ReadMaterialOptions,
  type RegistryMaterial,
  generateMaterial,
  loadOrCreateMaterial,
  readMaterial,
  writeNewMaterial,
} from './material';
export { type S3StorageSettings, readMaterialStorage } from './material-storage';
export type { CacheRequest, MaterialCache } from './material-caches-file';
export {
  type MaterialCertificate,
  type RenewOptions,
  type RenewResult,
  describeMaterialCertificates,
  renewCertificates,
} from './material-certs';
export {
  type AddUserOptions,
  type MaterialUser,
  type RemoveUserOptions,
  addMaterialUser,
  listMaterialUsers,
  removeMaterialUser,
  verifyMaterialUser,
} from './material-users';

// Material made in code.
export {
  type CertificateAndKey,
  type CertificateAuthorityOptions,
  type CertificateSummary,
  type ServerCertificateOptions,
  type SubjectAltNames,
  createCertificateAuthority,
  createServerCertificate,
  registrySubjectAltNames,
} from './certificates';
export type { Credentials } from './htpasswd';
export type { RandomSource } from './random';
export type {
  NodeCacheMirror,
  NodeRegistryOptions,
  RegistriesConfig,
  RegistryHostConfig,
  RegistryMirror,
} from './registries-yaml';

// Defaults and errors.
export {
  DEFAULT_BCRYPT_COST,
  DEFAULT_MATERIAL_DIR,
  DEFAULT_NAMESPACE,
  DEFAULT_NODE_PORT,
  DEFAULT_REGISTRY_HOSTNAME,
  DEFAULT_REGISTRY_IMAGE,
  DEFAULT_REGISTRY_PORT,
  DEFAULT_SERVICE_NAME,
  DEFAULT_USERNAME,
} from './defaults';
export { ValidationError } from './validate';
