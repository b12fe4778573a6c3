import { ValidationError, assertStorageSize } from './validate';

/** How the registry's volume is mounted: ReadWriteMany lets replicas on several nodes share it. */
export type StorageAccessMode = 'ReadWriteOnce' | 'ReadWriteMany';

/** Options of `RegistryStorage.persistentVolume()`: a PersistentVolumeClaim the registry mounts. */
export interface PersistentVolumeStorageOptions {
  /** @default '10Gi' */
  readonly size?: string;
  /** @default - the cluster's default storage class (local-path on k3s) */
  readonly storageClassName?: string;
  /** ReadWriteMany is needed for more than one replica. @default 'ReadWriteOnce' */
  readonly accessMode?: StorageAccessMode;
}

/** An S3 access key: the registry reads it from a Secret, never from the Deployment itself. */
export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

/** Options of `RegistryStorage.s3()`: a bucket in AWS S3 or any S3 API (MinIO, Ceph RADOS Gateway). */
export interface S3StorageOptions {
  /**
   * The S3 API's URL, e.g. 'https://minio.example.internal:9000' or 'https://s3.eu-central-1.amazonaws.com'.
   * Requests use the path style (https://host/bucket/key), which MinIO and Ceph need.
   * @default - AWS S3's endpoint for `region`
   */
  readonly endpoint?: string;
  /** The bucket's region; MinIO and Ceph accept any name, usually 'us-east-1'. */
  readonly region: string;
  /** An existing bucket: the registry does not create it. */
  readonly bucket: string;
  /** An access key allowed to read, write, list and delete in the bucket. */
  readonly credentials: S3Credentials;
  /**
   * Redirect blob downloads to presigned S3 URLs (distribution's own default), so layers bypass the
   * registry. Only works when every node and the desktop can reach `endpoint`.
   * @default false - the registry serves every byte itself: clients need to reach the registry only
   */
  readonly redirect?: boolean;
  /**
   * Allow an `http://` endpoint: the credentials' signatures and every layer then cross the network in clear.
   * @default false - an http:// endpoint is refused
   */
  readonly insecureHttp?: boolean;
  /**
   * A key prefix inside the bucket, so several registries can share one.
   * @default - the bucket's root
   */
  readonly rootDirectory?: string;
}

/** A PersistentVolumeClaim, resolved. */
export interface PersistentVolumeStorage {
  readonly kind: 'persistentVolume';
  readonly size: string;
  readonly storageClassName?: string;
  readonly accessMode: StorageAccessMode;
}

/** An S3 bucket, resolved and checked. */
export interface S3Storage {
  readonly kind: 's3';
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  readonly credentials: S3Credentials;
  readonly redirect: boolean;
  readonly insecureHttp: boolean;
  readonly rootDirectory?: string;
}

/** Where the registry keeps its images: a PersistentVolumeClaim (one node) or an S3 bucket (replicas). */
export class RegistryStorage {
  /**
   * A PersistentVolumeClaim: simple, and right for one node. One replica unless the storage class gives
   * ReadWriteMany.
   */
  public static persistentVolume(options: PersistentVolumeStorageOptions = {}): RegistryStorage {
    const size = options.size ?? '10Gi';
    assertStorageSize('storage.size', size);
    return new RegistryStorage({
      kind: 'persistentVolume',
      size,
      storageClassName: options.storageClassName,
      accessMode: options.accessMode ?? 'ReadWriteOnce',
    });
  }

  /**
   * An S3 bucket shared by every replica: no volume, so replicas run on any node (2 by default). The access
   * key goes into a Secret of its own, read through `secretKeyRef`.
   */
  public static s3(options: S3StorageOptions): RegistryStorage {
    return new RegistryStorage(checkS3Options(options));
  }

  private constructor(
    /** What the registry is configured with. */
    public readonly settings: PersistentVolumeStorage | S3Storage,
  ) {}

  /** Whether replicas on several nodes can share this storage. */
  public get sharedByReplicas(): boolean {
    return this.settings.kind === 's3' || this.settings.accessMode === 'ReadWriteMany';
  }
}

const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const REGION_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

function show(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** Checks S3 options and fills in their defaults; every error names the prop, the value and the fix. */
export function checkS3Options(options: S3StorageOptions, prefix = 'storage.s3'): S3Storage {
  const field = (name: string) => `'${prefix}.${name}'`;
  const { endpoint, region, bucket, credentials } = options ?? ({} as S3StorageOptions);
  const insecureHttp = options?.insecureHttp ?? false;
  if (typeof bucket !== 'string' || bucket === '') {
    throw new ValidationError(
      `${field('bucket')} is required, got ${show(bucket)}: name an existing bucket (the registry does not create it)`,
    );
  }
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw new ValidationError(
      `${field('bucket')} must be an S3 bucket name (3-63 lowercase letters, digits, '.' and '-'), got ${show(bucket)}: pick a name like "container-registry"`,
    );
  }
  if (typeof region !== 'string' || !REGION_NAME.test(region)) {
    throw new ValidationError(
      `${field('region')} must be a region name (lowercase letters, digits and '-'), got ${show(region)}: use the bucket's region, or "us-east-1" for MinIO and Ceph`,
    );
  }
  const accessKeyId = credentials?.accessKeyId;
  const secretAccessKey = credentials?.secretAccessKey;
  if (typeof accessKeyId !== 'string' || accessKeyId === '' || /\s/.test(accessKeyId)) {
    throw new ValidationError(
      `${field('credentials.accessKeyId')} is required (no whitespace), got ${accessKeyId === undefined ? 'none' : show(accessKeyId)}: give the access key of a user allowed to use the bucket`,
    );
  }
  if (typeof secretAccessKey !== 'string' || secretAccessKey === '' || /[\r\n]/.test(secretAccessKey)) {
    throw new ValidationError(
      `${field('credentials.secretAccessKey')} is required (one line), got ${secretAccessKey === undefined ? 'none' : 'an empty or multi-line value'}: give the secret key that goes with ${show(accessKeyId)}`,
    );
  }
  const origin =
    endpoint === undefined
      ? undefined
      : checkEndpoint(field('endpoint'), endpoint, insecureHttp, field('insecureHttp'));
  const rootDirectory = options.rootDirectory;
  if (rootDirectory !== undefined && !/^\/?[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*\/?$/.test(rootDirectory)) {
    throw new ValidationError(
      `${field('rootDirectory')} must be a key prefix of letters, digits, '.', '_', '-' and '/', got ${show(rootDirectory)}: pick one like "registry/team-a", or leave it out`,
    );
  }
  return {
    kind: 's3',
    endpoint: origin,
    region,
    bucket,
    credentials: { accessKeyId, secretAccessKey },
    redirect: options.redirect ?? false,
    insecureHttp,
    rootDirectory,
  };
}

/** The endpoint's origin (scheme, host, port), once it is a plain URL and http only with the opt-in. */
function checkEndpoint(field: string, endpoint: string, insecureHttp: boolean, optInField: string): string {
  let url: URL | undefined;
  try {
    url = new URL(endpoint);
  } catch {
    url = undefined;
  }
  if (url === undefined || !['http:', 'https:'].includes(url.protocol) || url.hostname === '') {
    throw new ValidationError(
      `${field} must be an http(s) URL, got ${show(endpoint)}: give the S3 API's address, like "https://minio.example.internal:9000"`,
    );
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '' || url.pathname !== '/') {
    throw new ValidationError(
      `${field} must be scheme, host and port only, got ${show(endpoint)}: put the bucket in 'bucket' and the credentials in 'credentials'`,
    );
  }
  if (url.protocol === 'http:' && !insecureHttp) {
    throw new ValidationError(
      `${field} is plain http, got ${show(endpoint)}: the registry's layers and signed requests would cross the network unencrypted; use an https:// endpoint, or set ${optInField}: true to accept that (a loopback or lab S3 only)`,
    );
  }
  return url.origin;
}

/** The endpoint of `storage` speaks plain http (REGISTRY_STORAGE_S3_SECURE=false). */
export function isPlainHttp(storage: S3Storage): boolean {
  return storage.endpoint?.startsWith('http:') ?? false;
}
