import { createHash } from 'node:crypto';
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import {
  RegistryAuth,
  RegistryChart,
  RegistryServer,
  type RegistryServerProps,
  RegistryStorage,
  type S3StorageOptions,
} from '../lib';
import { findObject, fixtureMaterial } from './support/fixture-material';

const material = fixtureMaterial();
const SECRET_KEY = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const S3: S3StorageOptions = {
  endpoint: 'https://minio.example.internal:9000',
  region: 'us-east-1',
  bucket: 'container-registry',
  credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET_KEY },
};

function synth(props: Partial<RegistryServerProps> = {}) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'container-registry', disableResourceNameHashes: true });
  const auth = new RegistryAuth(chart, 'Auth', { material });
  const server = new RegistryServer(chart, 'Registry', { material, auth, ...props });
  return { server, manifests: Testing.synth(chart) };
}
const s3 = (options: Partial<S3StorageOptions> = {}) => synth({ storage: RegistryStorage.s3({ ...S3, ...options }) });
const container = (manifests: any[]) => findObject(manifests, 'Deployment').spec.template.spec.containers[0];
const env = (manifests: any[]): Record<string, unknown> =>
  Object.fromEntries(
    container(manifests).env.map((variable: any) => [variable.name, variable.value ?? variable.valueFrom]),
  );
const decode = (value: string) => Buffer.from(value, 'base64').toString('utf8');

describe('RegistryStorage.s3 on RegistryServer', () => {
  it('s3 defaults', () => {
    expect(s3().manifests).toMatchSnapshot();
  });

  it('has no PersistentVolumeClaim and no storage volume', () => {
    const { server, manifests } = s3();
    expect(server.persistentVolumeClaim).toBeUndefined();
    expect(manifests.filter((object) => object.kind === 'PersistentVolumeClaim')).toEqual([]);
    const pod = findObject(manifests, 'Deployment').spec.template.spec;
    expect(pod.volumes.map((volume: any) => volume.name)).toEqual(['tls', 'auth', 'tmp']);
    expect(container(manifests).volumeMounts.map((mount: any) => mount.name)).toEqual(['tls', 'auth', 'tmp']);
    expect(env(manifests).REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY).toBeUndefined();
  });

  it('configures the S3 driver, serves blobs itself, and reads both keys from the S3 Secret only', () => {
    const { manifests } = s3();
    expect(env(manifests)).toMatchObject({
      REGISTRY_STORAGE: 's3',
      REGISTRY_STORAGE_S3_REGION: 'us-east-1',
      REGISTRY_STORAGE_S3_BUCKET: 'container-registry',
      REGISTRY_STORAGE_S3_REGIONENDPOINT: 'https://minio.example.internal:9000',
      REGISTRY_STORAGE_S3_FORCEPATHSTYLE: 'true',
      REGISTRY_STORAGE_S3_SECURE: 'true',
      REGISTRY_STORAGE_S3_V4AUTH: 'true',
      REGISTRY_STORAGE_REDIRECT_DISABLE: 'true',
      REGISTRY_STORAGE_S3_ACCESSKEY: { secretKeyRef: { name: 'container-registry-s3', key: 'access-key-id' } },
      REGISTRY_STORAGE_S3_SECRETKEY: { secretKeyRef: { name: 'container-registry-s3', key: 'secret-access-key' } },
      REGISTRY_HTTP_SECRET: { secretKeyRef: { name: 'container-registry-http', key: 'http-secret' } },
    });
    const secret = findObject(manifests, 'Secret', 'container-registry-s3');
    expect(secret.type).toBe('Opaque');
    expect(decode(secret.data['access-key-id'])).toBe('AKIAEXAMPLE');
    expect(decode(secret.data['secret-access-key'])).toBe(SECRET_KEY);
    for (const object of manifests.filter((candidate) => candidate !== secret)) {
      expect(JSON.stringify(object)).not.toContain(SECRET_KEY);
      expect(JSON.stringify(object)).not.toContain(Buffer.from(SECRET_KEY).toString('base64'));
      expect(JSON.stringify(object)).not.toContain('AKIAEXAMPLE');
    }
  });

  it('runs 2 replicas, rolled one at a time, spread over nodes, kept one up by a PodDisruptionBudget', () => {
    const { server, manifests } = s3();
    expect(server.replicas).toBe(2);
    const deployment = findObject(manifests, 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    const labels = deployment.spec.selector.matchLabels;
    expect(deployment.spec.template.spec.topologySpreadConstraints).toEqual([
      {
        maxSkew: 1,
        topologyKey: 'kubernetes.io/hostname',
        whenUnsatisfiable: 'ScheduleAnyway',
        labelSelector: { matchLabels: labels },
      },
    ]);
    const budget = findObject(manifests, 'PodDisruptionBudget');
    expect(budget.spec).toEqual({ minAvailable: 1, selector: { matchLabels: labels } });
    expect(budget.metadata.namespace).toBe('container-registry');
  });

  it('one replica when asked: no PodDisruptionBudget (it would block every drain) and no spread', () => {
    const { manifests } = synth({ storage: RegistryStorage.s3(S3), replicas: 1 });
    expect(manifests.filter((object) => object.kind === 'PodDisruptionBudget')).toEqual([]);
    const deployment = findObject(manifests, 'Deployment');
    expect(deployment.spec.replicas).toBe(1);
    expect(deployment.spec.template.spec.topologySpreadConstraints).toBeUndefined();
    expect(deployment.spec.strategy.type).toBe('RollingUpdate');
  });

  it('AWS S3 without an endpoint: no endpoint, no forced path style, https', () => {
    const vars = env(s3({ endpoint: undefined, region: 'eu-central-1' }).manifests);
    expect(vars.REGISTRY_STORAGE_S3_REGIONENDPOINT).toBeUndefined();
    expect(vars.REGISTRY_STORAGE_S3_FORCEPATHSTYLE).toBeUndefined();
    expect(vars.REGISTRY_STORAGE_S3_REGION).toBe('eu-central-1');
    expect(vars.REGISTRY_STORAGE_S3_SECURE).toBe('true');
  });

  it('plain http only with insecureHttp, then SECURE=false; redirect and rootDirectory when asked', () => {
    const vars = env(
      s3({ endpoint: 'http://127.0.0.1:7480/', insecureHttp: true, redirect: true, rootDirectory: 'team-a/registry' })
        .manifests,
    );
    expect(vars.REGISTRY_STORAGE_S3_REGIONENDPOINT).toBe('http://127.0.0.1:7480');
    expect(vars.REGISTRY_STORAGE_S3_SECURE).toBe('false');
    expect(vars.REGISTRY_STORAGE_REDIRECT_DISABLE).toBe('false');
    expect(vars.REGISTRY_STORAGE_S3_ROOTDIRECTORY).toBe('team-a/registry');
  });

  it('new keys roll the pods (env is read at start); the annotation is a hash, not the key', () => {
    const annotation = (secretAccessKey: string) =>
      findObject(s3({ credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey } }).manifests, 'Deployment').spec
        .template.metadata.annotations['cdk8s-private-registry/storage-sha256'];
    expect(annotation(SECRET_KEY)).toMatch(/^[0-9a-f]{64}$/);
    expect(annotation('another-secret-key')).not.toBe(annotation(SECRET_KEY));
    expect(annotation(SECRET_KEY)).toBe(annotation(SECRET_KEY));
    // Keyed: not a plain hash of the settings, which a reader of Deployments could test guesses against.
    const { server } = s3({ credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: SECRET_KEY } });
    const settings = JSON.stringify(server.storage.settings);
    expect(annotation(SECRET_KEY)).not.toBe(createHash('sha256').update(settings).digest('hex'));
    expect(annotation(SECRET_KEY)).toBe(server.rolloutHash(settings));
  });

  it('RegistryChart passes the storage through', () => {
    const chart = new RegistryChart(Testing.app(), 'registry', { material, storage: RegistryStorage.s3(S3) });
    const manifests = Testing.synth(chart);
    expect(chart.registry.replicas).toBe(2);
    expect(manifests.map((object) => object.kind)).toContain('PodDisruptionBudget');
    expect(manifests.map((object) => object.kind)).not.toContain('PersistentVolumeClaim');
    expect(findObject(manifests, 'Secret', 'container-registry-s3').metadata.namespace).toBe('container-registry');
  });
});

describe('RegistryStorage.persistentVolume', () => {
  it('with no options is exactly the default (no storage prop)', () => {
    expect(synth({ storage: RegistryStorage.persistentVolume() }).manifests).toEqual(synth().manifests);
  });

  it('takes size, class and access mode; ReadWriteMany allows replicas, with the same safety as S3', () => {
    const { manifests } = synth({
      storage: RegistryStorage.persistentVolume({ size: '50Gi', storageClassName: 'nfs', accessMode: 'ReadWriteMany' }),
      replicas: 3,
    });
    expect(findObject(manifests, 'PersistentVolumeClaim').spec).toEqual({
      accessModes: ['ReadWriteMany'],
      storageClassName: 'nfs',
      resources: { requests: { storage: '50Gi' } },
    });
    expect(findObject(manifests, 'PodDisruptionBudget').spec.minAvailable).toBe(1);
    expect(findObject(manifests, 'Deployment').spec.strategy.type).toBe('RollingUpdate');
  });
});

describe('bad storage combinations are refused with the fix', () => {
  const refusals: [string, () => unknown, string][] = [
    [
      'replicas > 1 on a ReadWriteOnce volume',
      () => synth({ storage: RegistryStorage.persistentVolume(), replicas: 2 }),
      "'replicas' is 2 but 'storageAccessMode' is ReadWriteOnce: replicas on other nodes could not mount the volume; use replicas: 1, or storage: RegistryStorage.s3({...}), or storageAccessMode: 'ReadWriteMany' with a storage class that supports it",
    ],
    [
      'S3 without a bucket',
      () => RegistryStorage.s3({ ...S3, bucket: undefined as unknown as string }),
      `'storage.s3.bucket' is required, got undefined: name an existing bucket (the registry does not create it)`,
    ],
    [
      'S3 with a bucket name S3 refuses',
      () => RegistryStorage.s3({ ...S3, bucket: 'My_Bucket' }),
      `'storage.s3.bucket' must be an S3 bucket name (3-63 lowercase letters, digits, '.' and '-'), got "My_Bucket": pick a name like "container-registry"`,
    ],
    [
      'S3 without credentials',
      () => RegistryStorage.s3({ ...S3, credentials: undefined as unknown as S3StorageOptions['credentials'] }),
      `'storage.s3.credentials.accessKeyId' is required (no whitespace), got none: give the access key of a user allowed to use the bucket`,
    ],
    [
      'S3 without a secret key',
      () => RegistryStorage.s3({ ...S3, credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: '' } }),
      `'storage.s3.credentials.secretAccessKey' is required (one line), got an empty or multi-line value: give the secret key that goes with "AKIAEXAMPLE"`,
    ],
    [
      'a plain-http endpoint without the opt-in',
      () => RegistryStorage.s3({ ...S3, endpoint: 'http://minio.lab:9000' }),
      `'storage.s3.endpoint' is plain http, got "http://minio.lab:9000": the registry's layers and signed requests would cross the network unencrypted; use an https:// endpoint, or set 'storage.s3.insecureHttp': true to accept that (a loopback or lab S3 only)`,
    ],
    [
      'an endpoint that is not a URL',
      () => RegistryStorage.s3({ ...S3, endpoint: 'minio.lab:9000' }),
      `'storage.s3.endpoint' must be an http(s) URL, got "minio.lab:9000": give the S3 API's address, like "https://minio.example.internal:9000"`,
    ],
    [
      'an endpoint with the bucket in its path',
      () => RegistryStorage.s3({ ...S3, endpoint: 'https://minio.lab:9000/container-registry' }),
      `'storage.s3.endpoint' must be scheme, host and port only, got "https://minio.lab:9000/container-registry": put the bucket in 'bucket' and the credentials in 'credentials'`,
    ],
    [
      'a region that is no region',
      () => RegistryStorage.s3({ ...S3, region: '' }),
      `'storage.s3.region' must be a region name (lowercase letters, digits and '-'), got "": use the bucket's region, or "us-east-1" for MinIO and Ceph`,
    ],
    [
      'storage together with the short-form volume props',
      () => synth({ storage: RegistryStorage.s3(S3), storageSize: '20Gi', storageClassName: 'nfs' }),
      `'storage' is given together with 'storageSize', 'storageClassName', which would be ignored: move them into RegistryStorage.persistentVolume({ size, storageClassName, accessMode }), or leave them out`,
    ],
    [
      'storage that RegistryStorage did not make',
      () => synth({ storage: { settings: { kind: 's3' } } as unknown as RegistryStorage }),
      `'storage' must be made by RegistryStorage.s3() or RegistryStorage.persistentVolume(), got object`,
    ],
    [
      'a bad volume size',
      () => RegistryStorage.persistentVolume({ size: '10GB' }),
      `'storage.size' must be a Kubernetes quantity like "10Gi", got "10GB"`,
    ],
  ];
  it.each(refusals)('%s', (_name, make, message) => {
    expect(make).toThrow(message);
  });
});
