import { createHash } from 'node:crypto';
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import type { CertificateAndKey } from './certificates';
import {
  CLUSTER_DOMAIN,
  DEFAULT_NODE_PORT,
  DEFAULT_REGISTRY_HOSTNAME,
  DEFAULT_REGISTRY_IMAGE,
  DEFAULT_REGISTRY_PORT,
  DEFAULT_SERVICE_NAME,
  registrySecretNames,
} from './defaults';
import { agreeWithMaterial, assertServerCertificate, materialAddresses } from './material-agreement';
import type { RegistriesConfig } from './registries-yaml';
import type { IRegistryAuth } from './registry-auth';
import { RegistryStorage, type S3Storage, type StorageAccessMode, isPlainHttp } from './registry-storage';
import {
  ValidationError,
  assertNodePort,
  assertPinnedImage,
  assertPort,
  assertRegistryHostname,
  assertServiceName,
  assertStorageSize,
} from './validate';

/** How other constructs (the hosts DaemonSet, KEP-1755) find the registry Service. */
export interface IRegistryService {
  /** The Service's name. */
  readonly serviceName: string;
  /** The namespace the Service lands in. */
  readonly serviceNamespace: string;
  /** The Service's port. */
  readonly port: number;
  /**
   * The name the nodes use for the registry, which its certificate names; NodeHostsDaemonSet follows it.
   * @default - unknown: NodeHostsDaemonSet uses its own `hostname`
   */
  readonly hostname?: string;
}

export type { StorageAccessMode } from './registry-storage';

/** What RegistryServer takes from the material; `readMaterial()` and `loadOrCreateMaterial()` give it. */
export interface RegistryServerMaterial {
  /** The CA that signed `tls`; its certificate goes into the TLS Secret as ca.crt. */
  readonly ca: Pick<CertificateAndKey, 'certificatePem'>;
  /** The server certificate and its key. */
  readonly tls: CertificateAndKey;
  /**
   * The nodes' registries.yaml. `hostname`, `port` and `nodePort` follow it and must agree with it, so the
   * Service and what the nodes read cannot drift apart.
   * @default - none: those props use their own defaults
   */
  readonly registries?: RegistriesConfig;
}

/** Props of RegistryServer: give `material` (or `tls`) and `auth`; every other prop has a default. */
export interface RegistryServerProps {
  /**
   * The material the server is made from: certificate, CA and registries.yaml, all checked against the
   * Service (names, key, issuer, validity, hostname and ports).
   * @default - none; give `material`, or `tls`
   */
  readonly material?: RegistryServerMaterial;
  /**
   * The server certificate and its key, when there is no material: checked like the material's.
   * @default - none; give `material`, or `tls`
   */
  readonly tls?: CertificateAndKey;
  /** With `tls`: the CA that signed it, checked and added to the TLS Secret as ca.crt. @default - not added */
  readonly caCertificatePem?: string;
  /** The htpasswd Secret, usually a RegistryAuth. */
  readonly auth: IRegistryAuth;
  /** Name of the Service, Deployment and their objects. @default 'container-registry' */
  readonly name?: string;
  /**
   * The name the nodes use for the registry (registries.yaml's endpoint host); the certificate must name it.
   * @default - the material's, else 'container-registry.local'
   */
  readonly hostname?: string;
  /** @default 'registry:3.1.1' */
  readonly image?: string;
  /** The registry's port and the Service's. @default - the material's, else 5000 */
  readonly port?: number;
  /** The NodePort the desktop pushes to as localhost:<nodePort>. @default - the material's, else 31113 */
  readonly nodePort?: number;
  /**
   * Where the images live: `RegistryStorage.persistentVolume()` (one node) or `RegistryStorage.s3()` (a
   * bucket every replica shares). Not together with `storageSize`, `storageClassName` or `storageAccessMode`,
   * the short form of a persistent volume.
   * @default - a PersistentVolumeClaim from `storageSize`, `storageClassName` and `storageAccessMode`
   */
  readonly storage?: RegistryStorage;
  /** @default '10Gi' */
  readonly storageSize?: string;
  /** @default - the cluster's default storage class (local-path on k3s) */
  readonly storageClassName?: string;
  /** ReadWriteMany is needed for more than one replica. @default 'ReadWriteOnce' */
  readonly storageAccessMode?: StorageAccessMode;
  /**
   * More than one needs storage every replica can reach: S3, or a ReadWriteMany volume. Then the pods are
   * spread over the nodes, updated one at a time and kept at least one up by a PodDisruptionBudget.
   * @default - 2 with S3 storage, else 1
   */
  readonly replicas?: number;
  /**
   * Signs upload state; must be the same in every replica and stable across restarts.
   * @default - derived from the TLS key, so it is stable and never committed on its own
   */
  readonly httpSecret?: string;
  /** @default true */
  readonly deleteEnabled?: boolean;
  /**
   * The registry's debug server, plain HTTP with Prometheus /metrics; reachable in the pod network only, never
   * through the NodePort. Scrape annotations on the pod point at it.
   * @default 5001
   */
  readonly metricsPort?: number;
  /** @default - requests 50m CPU / 64Mi, limits 1 CPU / 512Mi */
  readonly resources?: k8s.ResourceRequirements;
}

const STORAGE_PATH = '/var/lib/registry';
const CERTS_PATH = '/certs';
const AUTH_PATH = '/auth';
const RUN_AS_USER = 1000;
const DEFAULT_METRICS_PORT = 5001;
const METRICS_PATH = '/metrics';

/**
 * The CNCF registry: a Deployment on a PersistentVolumeClaim (or, with `RegistryStorage.s3()`, on a bucket
 * shared by 2 or more replicas), TLS and htpasswd from Secrets, and a NodePort Service. Lives in the
 * enclosing chart's namespace. Refuses a certificate that would fail clients (a foreign key or CA, expired,
 * not naming the hostname and this Service in this namespace) and a hostname or ports that disagree with
 * the material's registries.yaml, as RegistryChart does.
 */
export class RegistryServer extends Construct implements IRegistryService {
  public readonly serviceName: string;
  public readonly serviceNamespace: string;
  public readonly hostname: string;
  public readonly port: number;
  public readonly nodePort: number;
  public readonly metricsPort: number;
  public readonly image: string;
  public readonly replicas: number;
  public readonly tlsSecretName: string;
  /** Where the images live. */
  public readonly storage: RegistryStorage;
  public readonly deployment: k8s.KubeDeployment;
  public readonly service: k8s.KubeService;
  /** The volume, unless the storage is S3. */
  public readonly persistentVolumeClaim?: k8s.KubePersistentVolumeClaim;
  /** Keeps one replica up through node drains; only when there is more than one. */
  public readonly podDisruptionBudget?: k8s.KubePodDisruptionBudget;

  constructor(scope: Construct, id: string, props: RegistryServerProps) {
    super(scope, id);
    const { material } = props;
    if ((material === undefined) === (props.tls === undefined)) {
      throw new ValidationError(
        `RegistryServer needs exactly one of 'material' or 'tls', got ${material === undefined ? 'neither' : 'both'}: pass the material (readMaterial()), or a certificate and key`,
      );
    }
    if (material !== undefined && props.caCertificatePem !== undefined) {
      throw new ValidationError(
        `'caCertificatePem' is given with 'material', which has its own CA: leave 'caCertificatePem' out to use 'material.ca'`,
      );
    }
    const tls = material?.tls ?? (props.tls as CertificateAndKey);
    const caCertificatePem = material?.ca.certificatePem ?? props.caCertificatePem;
    const name = props.name ?? DEFAULT_SERVICE_NAME;
    this.serviceName = name;
    this.serviceNamespace = Chart.of(this).namespace ?? 'default';
    const addresses = materialAddresses(material?.registries);
    this.hostname = agreeWithMaterial('hostname', props.hostname, addresses?.hostname, DEFAULT_REGISTRY_HOSTNAME);
    this.port = agreeWithMaterial('port', props.port, addresses?.registryPort, DEFAULT_REGISTRY_PORT);
    this.nodePort = agreeWithMaterial('nodePort', props.nodePort, addresses?.nodePort, DEFAULT_NODE_PORT);
    this.metricsPort = props.metricsPort ?? DEFAULT_METRICS_PORT;
    this.image = props.image ?? DEFAULT_REGISTRY_IMAGE;
    this.storage = resolveStorage(props);
    const storage = this.storage.settings;
    this.replicas = props.replicas ?? (storage.kind === 's3' ? 2 : 1);
    this.tlsSecretName = registrySecretNames(name).tls;
    assertServiceName('name', name);
    assertRegistryHostname('hostname', this.hostname);
    assertPort('port', this.port);
    assertNodePort('nodePort', this.nodePort);
    assertPort('metricsPort', this.metricsPort);
    if (this.metricsPort === this.port) {
      throw new ValidationError(
        `'metricsPort' and 'port' are both ${this.port}: the metrics server needs its own port; leave 'metricsPort' out for 5001`,
      );
    }
    assertPinnedImage('image', this.image);
    if (!Number.isInteger(this.replicas) || this.replicas < 1) {
      throw new ValidationError(
        `'replicas' must be a whole number of at least 1, got ${this.replicas}: use 1 for a local registry`,
      );
    }
    if (this.replicas > 1 && !this.storage.sharedByReplicas) {
      throw new ValidationError(
        `'replicas' is ${this.replicas} but 'storageAccessMode' is ReadWriteOnce: replicas on other nodes could not mount the volume; use replicas: 1, or storage: RegistryStorage.s3({...}), or storageAccessMode: 'ReadWriteMany' with a storage class that supports it`,
      );
    }
    assertServerCertificate({
      tls,
      caCertificatePem,
      tlsProp: material === undefined ? 'tls' : 'material.tls',
      caProp: material === undefined ? 'caCertificatePem' : 'material.ca',
      hostname: this.hostname,
      serviceName: name,
      namespace: this.serviceNamespace,
    });

    const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/component': 'registry' };
    const httpSecretName = `${name}-http`;

    new k8s.KubeSecret(this, 'TlsSecret', {
      metadata: { name: this.tlsSecretName },
      type: 'kubernetes.io/tls',
      data: base64Values({
        'tls.crt': tls.certificatePem,
        'tls.key': tls.privateKeyPem,
        ...(caCertificatePem === undefined ? {} : { 'ca.crt': caCertificatePem }),
      }),
    });
    new k8s.KubeSecret(this, 'HttpSecret', {
      metadata: { name: httpSecretName },
      type: 'Opaque',
      data: base64Values({ 'http-secret': props.httpSecret ?? deriveHttpSecret(tls.privateKeyPem) }),
    });

    const s3SecretName = `${name}-s3`;
    if (storage.kind === 's3') {
      new k8s.KubeSecret(this, 'S3Secret', {
        metadata: { name: s3SecretName },
        type: 'Opaque',
        data: base64Values({
          [S3_ACCESS_KEY_ID]: storage.credentials.accessKeyId,
          [S3_SECRET_ACCESS_KEY]: storage.credentials.secretAccessKey,
        }),
      });
    } else {
      this.persistentVolumeClaim = new k8s.KubePersistentVolumeClaim(this, 'Storage', {
        metadata: { name, labels },
        spec: {
          accessModes: [storage.accessMode],
          storageClassName: storage.storageClassName,
          resources: { requests: { storage: k8s.Quantity.fromString(storage.size) } },
        },
      });
    }
    const several = this.replicas > 1;

    const probe = (initialDelaySeconds: number): k8s.Probe => ({
      // The registry answers 200 on "/" without credentials; /v2/ would be 401.
      httpGet: { path: '/', port: k8s.IntOrString.fromNumber(this.port), scheme: 'HTTPS' },
      initialDelaySeconds,
      periodSeconds: 10,
      timeoutSeconds: 3,
    });

    this.deployment = new k8s.KubeDeployment(this, 'Deployment', {
      metadata: { name, labels },
      spec: {
        replicas: this.replicas,
        // With a ReadWriteOnce volume the old pod must let go before the new one mounts it. Shared storage
        // rolls one new pod in before an old one goes, so a registry always answers.
        strategy: this.storage.sharedByReplicas
          ? {
              type: 'RollingUpdate',
              rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromNumber(0) },
            }
          : { type: 'Recreate' },
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels,
            annotations: {
              // A renewed certificate changes this and so rolls the pod (htpasswd is re-read live).
              'cdk8s-private-registry/tls-sha256': sha256(tls.certificatePem),
              // Environment variables are read at start only: new S3 settings or keys must roll the pods.
              // A one-way hash of a random key reveals nothing of it.
              ...(storage.kind === 's3'
                ? { 'cdk8s-private-registry/storage-sha256': sha256(JSON.stringify(storage)) }
                : {}),
              'prometheus.io/scrape': 'true',
              'prometheus.io/port': String(this.metricsPort),
              'prometheus.io/path': METRICS_PATH,
            },
          },
          spec: {
            automountServiceAccountToken: false,
            // Preferred, not required: one node (k3d's default), a drained or tainted node, or a surge pod
            // during an update must still be scheduled; availability beats an even spread.
            ...(several
              ? {
                  topologySpreadConstraints: [
                    {
                      maxSkew: 1,
                      topologyKey: 'kubernetes.io/hostname',
                      whenUnsatisfiable: 'ScheduleAnyway',
                      labelSelector: { matchLabels: labels },
                    },
                  ],
                }
              : {}),
            securityContext: {
              runAsNonRoot: true,
              runAsUser: RUN_AS_USER,
              runAsGroup: RUN_AS_USER,
              fsGroup: RUN_AS_USER,
              seccompProfile: { type: 'RuntimeDefault' },
            },
            containers: [
              {
                name: 'registry',
                image: this.image,
                ports: [
                  { name: 'https', containerPort: this.port },
                  { name: 'metrics', containerPort: this.metricsPort },
                ],
                env: [
                  { name: 'REGISTRY_HTTP_ADDR', value: `0.0.0.0:${this.port}` },
                  { name: 'REGISTRY_HTTP_TLS_CERTIFICATE', value: `${CERTS_PATH}/tls.crt` },
                  { name: 'REGISTRY_HTTP_TLS_KEY', value: `${CERTS_PATH}/tls.key` },
                  {
                    name: 'REGISTRY_HTTP_SECRET',
                    valueFrom: { secretKeyRef: { name: httpSecretName, key: 'http-secret' } },
                  },
                  { name: 'REGISTRY_AUTH', value: 'htpasswd' },
                  { name: 'REGISTRY_AUTH_HTPASSWD_REALM', value: props.auth.realm },
                  { name: 'REGISTRY_AUTH_HTPASSWD_PATH', value: `${AUTH_PATH}/${props.auth.htpasswdKey}` },
                  ...(storage.kind === 's3'
                    ? s3Environment(storage, s3SecretName)
                    : [{ name: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', value: STORAGE_PATH }]),
                  { name: 'REGISTRY_STORAGE_DELETE_ENABLED', value: String(props.deleteEnabled ?? true) },
                  { name: 'REGISTRY_HTTP_DEBUG_ADDR', value: `0.0.0.0:${this.metricsPort}` },
                  { name: 'REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED', value: 'true' },
                  { name: 'REGISTRY_HTTP_DEBUG_PROMETHEUS_PATH', value: METRICS_PATH },
                  // Registry 3 exports traces to localhost:4318 unless told not to (distribution#4270).
                  { name: 'OTEL_TRACES_EXPORTER', value: 'none' },
                ],
                volumeMounts: [
                  ...(storage.kind === 's3' ? [] : [{ name: 'storage', mountPath: STORAGE_PATH }]),
                  { name: 'tls', mountPath: CERTS_PATH, readOnly: true },
                  { name: 'auth', mountPath: AUTH_PATH, readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
                readinessProbe: probe(1),
                livenessProbe: probe(10),
                resources: props.resources ?? {
                  requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') },
                  limits: { cpu: k8s.Quantity.fromString('1'), memory: k8s.Quantity.fromString('512Mi') },
                },
                securityContext: {
                  allowPrivilegeEscalation: false,
                  privileged: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
            volumes: [
              ...(storage.kind === 's3' ? [] : [{ name: 'storage', persistentVolumeClaim: { claimName: name } }]),
              // 0440 + fsGroup: the registry's group can read the key, nobody else in the pod.
              { name: 'tls', secret: { secretName: this.tlsSecretName, defaultMode: 0o440 } },
              { name: 'auth', secret: { secretName: props.auth.secretName, defaultMode: 0o440 } },
              { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
            ],
          },
        },
      },
    });

    if (several) {
      this.podDisruptionBudget = new k8s.KubePodDisruptionBudget(this, 'DisruptionBudget', {
        metadata: { name, labels },
        spec: { minAvailable: k8s.IntOrString.fromNumber(1), selector: { matchLabels: labels } },
      });
    }

    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name, labels },
      spec: {
        type: 'NodePort',
        selector: labels,
        ports: [
          {
            name: 'https',
            port: this.port,
            targetPort: k8s.IntOrString.fromNumber(this.port),
            nodePort: this.nodePort,
          },
        ],
      },
    });
  }
}

/** Keys of the S3 Secret (`<name>-s3`). */
const S3_ACCESS_KEY_ID = 'access-key-id';
const S3_SECRET_ACCESS_KEY = 'secret-access-key';

/** `storage`, or the short-form PVC props; never both, so no prop is silently ignored. */
function resolveStorage(props: RegistryServerProps): RegistryStorage {
  const shortForm = (['storageSize', 'storageClassName', 'storageAccessMode'] as const).filter(
    (prop) => props[prop] !== undefined,
  );
  if (props.storage === undefined) {
    if (props.storageSize !== undefined) assertStorageSize('storageSize', props.storageSize);
    return RegistryStorage.persistentVolume({
      size: props.storageSize,
      storageClassName: props.storageClassName,
      accessMode: props.storageAccessMode,
    });
  }
  if (!(props.storage instanceof RegistryStorage)) {
    throw new ValidationError(
      `'storage' must be made by RegistryStorage.s3() or RegistryStorage.persistentVolume(), got ${typeof props.storage}: e.g. storage: RegistryStorage.s3({ region, bucket, credentials })`,
    );
  }
  if (shortForm.length > 0) {
    throw new ValidationError(
      `'storage' is given together with ${shortForm.map((prop) => `'${prop}'`).join(', ')}, which would be ignored: move them into RegistryStorage.persistentVolume({ size, storageClassName, accessMode }), or leave them out`,
    );
  }
  return props.storage;
}

/** distribution's S3 driver settings; the keys come from the Secret, never from the Deployment. */
function s3Environment(storage: S3Storage, secretName: string): k8s.EnvVar[] {
  const value = (name: string, text: string): k8s.EnvVar => ({ name, value: text });
  const fromSecret = (name: string, key: string): k8s.EnvVar => ({
    name,
    valueFrom: { secretKeyRef: { name: secretName, key } },
  });
  return [
    value('REGISTRY_STORAGE', 's3'),
    value('REGISTRY_STORAGE_S3_REGION', storage.region),
    value('REGISTRY_STORAGE_S3_BUCKET', storage.bucket),
    ...(storage.endpoint === undefined
      ? []
      : [
          value('REGISTRY_STORAGE_S3_REGIONENDPOINT', storage.endpoint),
          // MinIO and Ceph serve buckets as paths; registry 2.x does so by itself with an endpoint.
          value('REGISTRY_STORAGE_S3_FORCEPATHSTYLE', 'true'),
        ]),
    value('REGISTRY_STORAGE_S3_SECURE', String(!isPlainHttp(storage))),
    value('REGISTRY_STORAGE_S3_V4AUTH', 'true'),
    ...(storage.rootDirectory === undefined ? [] : [value('REGISTRY_STORAGE_S3_ROOTDIRECTORY', storage.rootDirectory)]),
    fromSecret('REGISTRY_STORAGE_S3_ACCESSKEY', S3_ACCESS_KEY_ID),
    fromSecret('REGISTRY_STORAGE_S3_SECRETKEY', S3_SECRET_ACCESS_KEY),
    // Serve blobs from the registry rather than redirect clients to presigned S3 URLs, which the nodes
    // and the desktop could only follow if they reach the S3 endpoint themselves.
    value('REGISTRY_STORAGE_REDIRECT_DISABLE', String(!storage.redirect)),
  ];
}

/** A Service's in-cluster DNS name, e.g. container-registry.container-registry.svc.cluster.local. */
export function serviceDnsName(service: IRegistryService): string {
  return `${service.serviceName}.${service.serviceNamespace}.svc.${CLUSTER_DOMAIN}`;
}

/** A stable secret that is not stored anywhere on its own: a one-way function of the TLS key. */
export function deriveHttpSecret(tlsPrivateKeyPem: string): string {
  return createHash('sha256').update('cdk8s-private-registry http secret\0').update(tlsPrivateKeyPem).digest('hex');
}

function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function base64Values(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
}
