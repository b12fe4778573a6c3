import { createHash, createHmac } from 'node:crypto';
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import type { CertificateAndKey } from './certificates';
import {
  CLUSTER_DOMAIN,
  DEFAULT_METRICS_PORT,
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
import type { IRegistryCacheHost } from './registry-cache';
import {
  REGISTRY_STORAGE_PATH,
  base64Values,
  metricsAnnotations,
  registryContainer,
  registryPodSecurityContext,
  registryVolumes,
  sha256,
} from './registry-pod';
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

/** The label every pod behind the registry's Service carries (the registry's and each cache's): its name. */
export const NAME_LABEL = 'app.kubernetes.io/name';
/** The registry container's named port, which the Service's first port targets. */
const REGISTRY_PORT_NAME = 'https';

/**
 * The CNCF registry: a Deployment on a PersistentVolumeClaim (or, with `RegistryStorage.s3()`, on a bucket
 * shared by 2 or more replicas), TLS and htpasswd from Secrets, and a NodePort Service. Lives in the
 * enclosing chart's namespace. Refuses a certificate that would fail clients (a foreign key or CA, expired,
 * not naming the hostname and this Service in this namespace) and a hostname or ports that disagree with
 * the material's registries.yaml, as RegistryChart does.
 */
export class RegistryServer extends Construct implements IRegistryCacheHost {
  public readonly serviceName: string;
  public readonly serviceNamespace: string;
  public readonly hostname: string;
  public readonly port: number;
  public readonly nodePort: number;
  public readonly metricsPort: number;
  public readonly image: string;
  public readonly replicas: number;
  public readonly tlsSecretName: string;
  /** SHA-256 of the served certificate (a pod annotation: a renewal rolls the pods). */
  public readonly tlsCertificateSha256: string;
  /** The Secret holding the registry's HTTP secret (`http-secret`), which the caches share. */
  public readonly httpSecretName: string;
  /** Where the images live. */
  public readonly storage: RegistryStorage;
  public readonly deployment: k8s.KubeDeployment;
  public readonly service: k8s.KubeService;
  /** The volume, unless the storage is S3. */
  public readonly persistentVolumeClaim?: k8s.KubePersistentVolumeClaim;
  /** Keeps one replica up through node drains; only when there is more than one. */
  public readonly podDisruptionBudget?: k8s.KubePodDisruptionBudget;
  private readonly servicePorts: k8s.ServicePort[];
  /** The HTTP secret, the key of rolloutHash: in a Secret, which a reader of Deployments cannot see. */
  private readonly rolloutKey: string;

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

    // The Deployment's and the budget's selector: unchanged since the first release (a Deployment's selector
    // is immutable, so a changed one would break kubectl apply on every existing cluster).
    const labels = { [NAME_LABEL]: name, 'app.kubernetes.io/component': 'registry' };
    const httpSecretName = `${name}-http`;
    this.httpSecretName = httpSecretName;
    this.tlsCertificateSha256 = sha256(tls.certificatePem);
    const httpSecret = props.httpSecret ?? deriveHttpSecret(tls.privateKeyPem);
    this.rolloutKey = httpSecret;

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
      data: base64Values({ 'http-secret': httpSecret }),
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
              'cdk8s-private-registry/tls-sha256': this.tlsCertificateSha256,
              // Environment variables are read at start only: new S3 settings or keys must roll the pods.
              // Keyed (rolloutHash): a plain hash would let a reader of Deployments test guesses of the key.
              ...(storage.kind === 's3'
                ? { 'cdk8s-private-registry/storage-sha256': this.rolloutHash(JSON.stringify(storage)) }
                : {}),
              ...metricsAnnotations(this.metricsPort),
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
            securityContext: registryPodSecurityContext(),
            containers: [
              registryContainer({
                image: this.image,
                port: this.port,
                portName: REGISTRY_PORT_NAME,
                metricsPort: this.metricsPort,
                httpSecretName: this.httpSecretName,
                auth: props.auth,
                environment: [
                  ...(storage.kind === 's3'
                    ? s3Environment(storage, s3SecretName)
                    : [{ name: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', value: REGISTRY_STORAGE_PATH }]),
                  { name: 'REGISTRY_STORAGE_DELETE_ENABLED', value: String(props.deleteEnabled ?? true) },
                ],
                mountStorage: storage.kind !== 's3',
                resources: props.resources,
              }),
            ],
            volumes: registryVolumes({
              claimName: storage.kind === 's3' ? undefined : name,
              tlsSecretName: this.tlsSecretName,
              auth: props.auth,
            }),
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

    // One Service for the registry and every pull-through cache (RegistryCache): the nodes reach a cache at
    // <hostname>:<its port>, which the hosts line and the certificate already cover. So the selector is the
    // label all of them share, and each port targets a container port BY NAME that only its own pods
    // declare: Kubernetes' endpoints and EndpointSlice controllers look the name up in each selected pod
    // (podutil.FindPort; pkg/controller/endpoint/endpoints_controller.go skips the pod for that port with
    // "Failed to find port for service", the EndpointSlice controller's getEndpointPorts likewise), so port
    // 5000 reaches only registry pods and a cache's port only that cache's pods.
    this.servicePorts = [
      {
        name: REGISTRY_PORT_NAME,
        port: this.port,
        targetPort: k8s.IntOrString.fromString(REGISTRY_PORT_NAME),
        nodePort: this.nodePort,
      },
    ];
    this.service = new k8s.KubeService(this, 'Service', {
      metadata: { name, labels },
      spec: {
        type: 'NodePort',
        selector: { [NAME_LABEL]: name },
        // The array itself: ports added later (addServicePort) are synthesized too.
        ports: this.servicePorts,
      },
    });
  }

  /**
   * HMAC-SHA256 of `text` keyed by the registry's HTTP secret, for pod annotations that must change with a
   * credential (so the pods roll) without letting whoever reads Deployments test guesses of it offline.
   */
  public rolloutHash(text: string): string {
    return createHmac('sha256', this.rolloutKey).update(text).digest('hex');
  }

  /**
   * Publishes one more port on the registry's Service, e.g. a pull-through cache's. Its `targetPort` must be
   * a container port NAME that only the pods meant to serve it declare (see the Service's comment).
   */
  public addServicePort(port: k8s.ServicePort): void {
    if (port.targetPort?.value === undefined || typeof port.targetPort.value !== 'string') {
      throw new ValidationError(
        `addServicePort: 'targetPort' of port ${port.port} must be a container port name, got ${JSON.stringify(port.targetPort?.value)}: a number would reach the registry's pods too`,
      );
    }
    const clash = this.servicePorts.find((existing) => existing.port === port.port || existing.name === port.name);
    if (clash !== undefined) {
      throw new ValidationError(
        `addServicePort: port ${port.port} (${JSON.stringify(port.name)}) clashes with the Service's port ${clash.port} (${JSON.stringify(clash.name)}): each port needs its own number and name`,
      );
    }
    this.servicePorts.push(port);
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
