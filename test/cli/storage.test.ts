import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { storageClear, storageS3, storageShow } from '../../cli/commands/storage';
import { main } from '../../cli/main';
import { RegistryStorage } from '../../lib';
import { S3_STORAGE_FILE, readMaterialStorage, readS3StorageSettings } from '../../lib/material-storage';
import { captureIo, materialTemplate, tempDir, write } from './helpers';

const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const ARGS = {
  endpoint: 'https://minio.example.internal:9000',
  region: 'us-east-1',
  bucket: 'container-registry',
  accessKeyId: 'AKIAEXAMPLE',
  secretAccessKeyStdin: true,
  redirect: false,
  insecureHttp: false,
};

describe('storage', () => {
  let template: ReturnType<typeof materialTemplate>;
  beforeAll(() => {
    template = materialTemplate();
  });

  it('s3 stores the settings 0600 in a 0700 directory, the secret key from stdin', async () => {
    const dir = template.copy();
    const io = captureIo({ stdin: `${SECRET_KEY}\n` });
    expect(await storageS3({ dir, ...ARGS }, io)).toBe(0);
    const file = path.join(dir, S3_STORAGE_FILE);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({
      endpoint: 'https://minio.example.internal:9000',
      region: 'us-east-1',
      bucket: 'container-registry',
      accessKeyId: 'AKIAEXAMPLE',
      secretAccessKey: SECRET_KEY,
      redirect: false,
      insecureHttp: false,
    });
    expect(io.out()).toBe('');
    expect(io.err()).not.toContain(SECRET_KEY);
    expect(io.err()).toContain(
      `stored S3 storage (bucket "container-registry" at https://minio.example.internal:9000) in ${file} (0600)`,
    );
    // No temp file of the atomic write is left behind.
    expect(fs.readdirSync(path.dirname(file))).toEqual(['s3.json']);
  });

  it('synth reads it: readMaterialStorage gives S3 storage, none without the file', async () => {
    const dir = template.copy();
    expect(readMaterialStorage(dir)).toBeUndefined();
    await storageS3({ dir, ...ARGS }, captureIo({ stdin: SECRET_KEY }));
    const storage = readMaterialStorage(dir);
    expect(storage).toBeInstanceOf(RegistryStorage);
    expect(storage?.settings).toMatchObject({ kind: 's3', bucket: 'container-registry', redirect: false });
  });

  it('show prints everything but the secret key; clear removes it and show says volume', async () => {
    const dir = template.copy();
    await storageS3({ dir, ...ARGS, redirect: true }, captureIo({ stdin: SECRET_KEY }));
    const shown = captureIo();
    expect(await storageShow({ dir }, shown)).toBe(0);
    expect(shown.out()).toBe(
      [
        'storage: s3',
        'endpoint: https://minio.example.internal:9000',
        'region: us-east-1',
        'bucket: container-registry',
        'access-key-id: AKIAEXAMPLE',
        'secret-access-key: (stored, not shown)',
        'redirect: true',
        'insecure-http: false',
        '',
      ].join('\n'),
    );
    expect(shown.out() + shown.err()).not.toContain(SECRET_KEY);

    const cleared = captureIo();
    expect(await storageClear({ dir }, cleared)).toBe(0);
    expect(fs.existsSync(path.join(dir, S3_STORAGE_FILE))).toBe(false);
    expect(cleared.err()).toContain('the registry goes back to a persistent volume once you apply');
    const after = captureIo();
    await storageShow({ dir }, after);
    expect(after.out()).toBe('storage: persistent volume\n');
    const again = captureIo();
    expect(await storageClear({ dir }, again)).toBe(0);
    expect(again.err()).toContain('nothing to remove');
  });

  it('replaces earlier settings whole', async () => {
    const dir = template.copy();
    await storageS3({ dir, ...ARGS }, captureIo({ stdin: SECRET_KEY }));
    await storageS3({ dir, ...ARGS, endpoint: undefined, bucket: 'other-bucket' }, captureIo({ stdin: 'other-key' }));
    expect(readS3StorageSettings(dir)).toEqual({
      region: 'us-east-1',
      bucket: 'other-bucket',
      accessKeyId: 'AKIAEXAMPLE',
      secretAccessKey: 'other-key',
      redirect: false,
      insecureHttp: false,
    });
  });

  describe('refusals name the flag and the fix, and write nothing', () => {
    const cases: [string, Partial<typeof ARGS>, string, string][] = [
      [
        'plain http without --insecure-http',
        { endpoint: 'http://minio.lab:9000' },
        SECRET_KEY,
        'error: --endpoint is plain http, got "http://minio.lab:9000": the registry\'s layers and signed requests would cross the network unencrypted; use an https:// endpoint, or set --insecure-http: true to accept that (a loopback or lab S3 only)',
      ],
      [
        'an empty secret key on stdin',
        {},
        '\n',
        'error: the secret key on stdin (--secret-access-key-stdin) is required (one line), got an empty or multi-line value: give the secret key that goes with "AKIAEXAMPLE"',
      ],
      ['a bad bucket name', { bucket: 'Bad_Bucket' }, SECRET_KEY, 'error: --bucket must be an S3 bucket name'],
    ];
    it.each(cases)('%s', async (_name, args, stdin, message) => {
      const dir = template.copy();
      const io = captureIo({ stdin });
      const flags = Object.entries({ ...ARGS, ...args }).flatMap(([key, value]) => {
        const flag = `--${key.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
        if (typeof value === 'boolean') return value ? [flag] : [];
        return value === undefined ? [] : [flag, value];
      });
      expect(await main(['storage', 's3', '--dir', dir, ...flags], io)).toBe(2);
      expect(io.err()).toContain(message);
      expect(fs.existsSync(path.join(dir, S3_STORAGE_FILE))).toBe(false);
    });

    it('the secret key is never a flag', async () => {
      const io = captureIo({ stdin: SECRET_KEY });
      const dir = template.copy();
      const code = await main(
        [
          'storage',
          's3',
          '--dir',
          dir,
          '--region',
          'us-east-1',
          '--bucket',
          'b-1',
          '--access-key-id',
          'K',
          '--secret-access-key-stdin',
          '--secret-access-key',
          SECRET_KEY,
        ],
        io,
      );
      expect(code).toBe(2);
      expect(io.err()).toContain('unknown flag --secret-access-key');
    });

    it('no material directory yet', async () => {
      const dir = path.join(tempDir(), 'registry');
      const io = captureIo({ stdin: SECRET_KEY });
      expect(await storageS3({ dir, ...ARGS }, io).catch((error: Error) => error.message)).toBe(
        `${dir} does not exist: create the material first (private-registry init, or synthesize once), then store the S3 settings in it`,
      );
    });

    it('a damaged settings file stops synth with the fix', () => {
      const dir = template.copy();
      fs.mkdirSync(path.join(dir, path.dirname(S3_STORAGE_FILE)));
      write(dir, S3_STORAGE_FILE, '{"region":"us-east-1","bucket":"container-registry","accessKeyId":"K"}');
      expect(() => readMaterialStorage(dir)).toThrow(
        `${path.join(dir, S3_STORAGE_FILE)} holds bad settings ('storage.credentials.secretAccessKey' is required`,
      );
      write(dir, S3_STORAGE_FILE, 'not json');
      expect(() => readMaterialStorage(dir)).toThrow(
        `${path.join(dir, S3_STORAGE_FILE)} is not JSON: store the settings again with private-registry storage s3, or remove them with private-registry storage clear`,
      );
    });
  });
});
