import path from 'node:path';
import {
  S3_STORAGE_FILE,
  clearS3StorageSettings,
  readS3StorageSettings,
  writeS3StorageSettings,
} from '../../lib/material-storage';
import type { CommandBody } from '../command-line';
import { applyCommandFor, withFlagNames } from '../flags';
import { type CliIo, EXIT_OK, type ExitCode, readPasswordFromStdin } from '../io';

export interface StorageS3Args {
  readonly dir: string;
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  readonly accessKeyId: string;
  readonly secretAccessKeyStdin: boolean;
  readonly redirect: boolean;
  readonly insecureHttp: boolean;
}

export interface StorageDirArgs {
  readonly dir: string;
}

const FLAGS = {
  'storage.endpoint': '--endpoint',
  'storage.region': '--region',
  'storage.bucket': '--bucket',
  'storage.credentials.accessKeyId': '--access-key-id',
  'storage.credentials.secretAccessKey': 'the secret key on stdin (--secret-access-key-stdin)',
  'storage.insecureHttp': '--insecure-http',
};

/** Stores the bucket and its key (the secret key from stdin only) in the material, 0600. */
export async function storageS3(args: StorageS3Args, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const secretAccessKey = await readPasswordFromStdin(io);
    const stored = writeS3StorageSettings(args.dir, {
      endpoint: args.endpoint,
      region: args.region,
      bucket: args.bucket,
      accessKeyId: args.accessKeyId,
      secretAccessKey,
      redirect: args.redirect,
      insecureHttp: args.insecureHttp,
    });
    io.stderr.write(
      `stored S3 storage (bucket "${stored.bucket}" at ${stored.endpoint ?? `AWS S3 ${stored.region}`}) in ${path.join(args.dir, S3_STORAGE_FILE)} (0600)\n` +
        `the registry runs 2 replicas on it once you apply: ${applyCommandFor(args.dir, io)}\n` +
        'images already pushed stay on the old volume: push them again (the bucket starts empty)\n',
    );
    return EXIT_OK;
  });
}

/** Prints the stored S3 settings, the secret key never. */
export async function storageShow(args: StorageDirArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const settings = readS3StorageSettings(args.dir);
    if (settings === undefined) {
      io.stdout.write('storage: persistent volume\n');
      io.stderr.write(`no S3 settings in ${path.join(args.dir, S3_STORAGE_FILE)}: the registry uses its volume\n`);
      return EXIT_OK;
    }
    io.stdout.write(
      [
        'storage: s3',
        `endpoint: ${settings.endpoint ?? `(AWS S3, ${settings.region})`}`,
        `region: ${settings.region}`,
        `bucket: ${settings.bucket}`,
        `access-key-id: ${settings.accessKeyId}`,
        'secret-access-key: (stored, not shown)',
        `redirect: ${settings.redirect ?? false}`,
        `insecure-http: ${settings.insecureHttp ?? false}`,
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  });
}

/** Forgets the S3 settings: the registry goes back to its volume on the next apply. */
export async function storageClear(args: StorageDirArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const file = path.join(args.dir, S3_STORAGE_FILE);
    if (clearS3StorageSettings(args.dir)) {
      io.stderr.write(
        `removed ${file}; the registry goes back to a persistent volume once you apply: ${applyCommandFor(args.dir, io)}\n`,
      );
    } else {
      io.stderr.write(`no S3 settings in ${file}: nothing to remove\n`);
    }
    return EXIT_OK;
  });
}

export const storageCommand: CommandBody = {
  subcommands: [
    {
      name: 's3',
      describe: 'Store the S3 endpoint, region, bucket and access key (secret key on stdin) in the material',
      flags: {
        endpoint: {
          type: 'string',
          describe: 'S3 API URL, e.g. https://minio.example.internal:9000 (default: AWS S3 for --region)',
        },
        region: { type: 'string', required: true, describe: 'Bucket region' },
        bucket: { type: 'string', required: true, describe: 'An existing bucket (the registry does not create it)' },
        'access-key-id': { type: 'string', required: true, describe: 'Access key' },
        'secret-access-key-stdin': {
          type: 'boolean',
          required: true,
          describe: 'Read the secret key from stdin (never a flag: flags show in ps and shell history)',
        },
        redirect: {
          type: 'boolean',
          default: false,
          describe: 'Send clients to presigned S3 URLs for layers (nodes and desktop must reach the endpoint)',
        },
        'insecure-http': {
          type: 'boolean',
          default: false,
          describe: 'Allow an http:// endpoint (keys and layers cross the network in clear)',
        },
      },
      epilog:
        'Example:\n  $0 storage s3 --region us-east-1 --bucket registry --access-key-id AKIA... \\\n    --secret-access-key-stdin < secret-key.txt',
      run: storageS3,
    },
    { name: 'show', describe: 'Print the stored storage settings (never the secret key)', run: storageShow },
    {
      name: 'clear',
      describe: 'Remove the S3 settings: the registry goes back to a persistent volume',
      run: storageClear,
    },
  ],
};
