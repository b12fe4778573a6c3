import fs from 'node:fs';
import path from 'node:path';
import { SECRET_FILE_MODE } from './atomic-file';
import { S3_STORAGE_FILE } from './material-files';
import { commitMaterialChange } from './material-transaction';
import { RegistryStorage, type S3Storage, type S3StorageOptions, checkS3Options } from './registry-storage';
import { ValidationError } from './validate';

export { S3_STORAGE_FILE } from './material-files';

/** What `private-registry storage s3` stores: the bucket and the key to reach it. */
export interface S3StorageSettings {
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** @default false */
  readonly redirect?: boolean;
  /** @default false */
  readonly insecureHttp?: boolean;
}

const FIELDS = ['endpoint', 'region', 'bucket', 'accessKeyId', 'secretAccessKey', 'redirect', 'insecureHttp'];

/** Settings as the construct takes them; checked there, so the file and the construct agree on every rule. */
export function s3StorageOptions(settings: S3StorageSettings): S3StorageOptions {
  return {
    endpoint: settings.endpoint,
    region: settings.region,
    bucket: settings.bucket,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    redirect: settings.redirect,
    insecureHttp: settings.insecureHttp,
  };
}

/** Checks and stores the S3 settings in `dir` (which must hold material), replacing any earlier ones. */
export function writeS3StorageSettings(dir: string, settings: S3StorageSettings): S3Storage {
  if (!fs.existsSync(dir)) {
    throw new ValidationError(
      `${dir} does not exist: create the material first (private-registry init, or synthesize once), then store the S3 settings in it`,
    );
  }
  // Flag names: the CLI is where these usually come from.
  const checked = checkS3Options(s3StorageOptions(settings), 'storage');
  const stored: S3StorageSettings = {
    ...(checked.endpoint === undefined ? {} : { endpoint: checked.endpoint }),
    region: checked.region,
    bucket: checked.bucket,
    accessKeyId: checked.credentials.accessKeyId,
    secretAccessKey: checked.credentials.secretAccessKey,
    redirect: checked.redirect,
    insecureHttp: checked.insecureHttp,
  };
  commitMaterialChange(dir, {
    remove: [],
    write: [{ relativePath: S3_STORAGE_FILE, content: `${JSON.stringify(stored, null, 2)}\n`, mode: SECRET_FILE_MODE }],
  });
  return checked;
}

/** The S3 settings stored in `dir`, checked; undefined when there are none. */
export function readS3StorageSettings(dir: string): S3StorageSettings | undefined {
  const file = path.join(dir, S3_STORAGE_FILE);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const broken = (why: string) =>
    new ValidationError(
      `${file} ${why}: store the settings again with private-registry storage s3, or remove them with private-registry storage clear`,
    );
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw broken('is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw broken('is not a JSON object');
  const unknown = Object.keys(parsed).filter((key) => !FIELDS.includes(key));
  if (unknown.length > 0) throw broken(`has unknown fields ${unknown.join(', ')}`);
  const settings = parsed as S3StorageSettings;
  try {
    checkS3Options(s3StorageOptions(settings), 'storage');
  } catch (error) {
    if (error instanceof ValidationError) throw broken(`holds bad settings (${error.message})`);
    throw error;
  }
  return settings;
}

/**
 * The registry's storage as the material says: S3 when `private-registry storage s3` stored settings,
 * else undefined (the chart's PersistentVolumeClaim).
 */
export function readMaterialStorage(dir: string): RegistryStorage | undefined {
  const settings = readS3StorageSettings(dir);
  return settings === undefined ? undefined : RegistryStorage.s3(s3StorageOptions(settings));
}

/** Removes the S3 settings; true if there were any. */
export function clearS3StorageSettings(dir: string): boolean {
  if (!fs.existsSync(path.join(dir, S3_STORAGE_FILE))) return false;
  commitMaterialChange(dir, { write: [], remove: [S3_STORAGE_FILE] });
  return true;
}
