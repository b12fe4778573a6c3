import { Chart, JsonPatch } from 'cdk8s';
import type { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import type { CertificateAndKey } from './certificates';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE_NAME, registrySecretNames } from './defaults';
import type { Credentials } from './htpasswd';
import { LocalRegistryHosting } from './local-registry-hosting';
import { NodeHostsDaemonSet } from './node-hosts-daemon-set';
import type { RegistriesConfig } from './registries-yaml';
import { RegistryAuth } from './registry-auth';
import { RegistryGarbageCollection } from './registry-garbage-collection';
import { RegistryServer, type StorageAccessMode, serviceDnsName } from './registry-server';
import type { RegistryStorage } from './registry-storage';
import { assertDnsLabel, assertIntegerInRange, assertServiceName } from './validate';

/** What the chart is made from: the material directory's contents, or the same passed in code. */
export interface RegistryChartMaterial {
  /** The CA that signed `tls`; the nodes trust it. */
  readonly ca: CertificateAndKey;
  /** The server certificate; it must name the hostname and the Service's names. */
  readonly tls: CertificateAndKey;
  /** A ready htpasswd file (bcrypt lines). */
  readonly htpasswd: string;
  /** The user the nodes pull with; must match the htpasswd. */
  readonly nodeCredentials: Credentials;
  /**
   * The nodes' registries.yaml. When given, `hostname`, `port` and `nodePort` follow it and must agree
   * with it, so the manifests and what the nodes read cannot drift apart.
   * @default - none: those props use their own defaults
   */
  readonly registries?: RegistriesConfig;
}

/** Props of RegistryChart: only `material` is required. */
export interface RegistryChartProps {
  /** Certificates and users; `readMaterial()` / `loadOrCreateMaterial()` give it from a directory. */
  readonly material: RegistryChartMaterial;
  /** @default 'container-registry' */
  readonly namespace?: string;
  /** Name of the Service, Deployment and their objects. @default 'container-registry' */
  readonly serviceName?: string;
  /** The name the nodes use for the registry. @default - the material's, else 'container-registry.local' */
  readonly hostname?: string;
  /** @default - the material's, else 5000 */
  readonly port?: number;
  /** @default - the material's, else 31113 */
  readonly nodePort?: number;
  /** @default 'registry:3.1.1' */
  readonly image?: string;
  /**
   * Where the images live: `RegistryStorage.s3({...})` for a bucket shared by several replicas, or
   * `RegistryStorage.persistentVolume({...})`. Not together with the `storage*` props below.
   * @default - a PersistentVolumeClaim from `storageSize`, `storageClassName` and `storageAccessMode`
   */
  readonly storage?: RegistryStorage;
  /** @default '10Gi' */
  readonly storageSize?: string;
  /** @default - the cluster's default storage class */
  readonly storageClassName?: string;
  /** @default 'ReadWriteOnce' */
  readonly storageAccessMode?: StorageAccessMode;
  /** More than one needs S3 or a ReadWriteMany volume. @default - 2 with S3 storage, else 1 */
  readonly replicas?: number;
  /** @default 30 */
  readonly hostsUpdateIntervalSeconds?: number;
  /**
   * When to reclaim the disk of deleted images (a cron schedule; see RegistryGarbageCollection). Only with
   * storageAccessMode ReadWriteOnce, whose Recreate strategy the collection relies on.
   * @default - the CronJob `<serviceName>-gc` is created suspended (ReadWriteOnce only): run it with kubectl create job --from
   */
  readonly garbageCollectionSchedule?: string;
  /** Publish the KEP-1755 ConfigMap in kube-public. @default true */
  readonly localRegistryHosting?: boolean;
  /** Labels added to every object. @default - none */
  readonly labels?: Record<string, string>;
}

const NODE_HOSTS_SUFFIX = '-node-hosts';

/**
 * Everything the cluster side needs, with the guide's names: the Namespace (first, so `kubectl apply -f
 * dist` works on an empty cluster), the registry, its users, the node hosts DaemonSet and KEP-1755.
 */
export class RegistryChart extends Chart {
  public readonly hostname: string;
  public readonly auth: RegistryAuth;
  public readonly registry: RegistryServer;
  public readonly nodeHosts: NodeHostsDaemonSet;
  /** Absent with storageAccessMode ReadWriteMany and no schedule. */
  public readonly garbageCollection?: RegistryGarbageCollection;

  constructor(scope: Construct, id: string, props: RegistryChartProps) {
    const namespace = props.namespace ?? DEFAULT_NAMESPACE;
    assertDnsLabel('namespace', namespace);
    super(scope, id, { namespace, labels: props.labels, disableResourceNameHashes: true });

    const serviceName = props.serviceName ?? DEFAULT_SERVICE_NAME;
    // The DaemonSet is named after the Service, so leave room for its suffix.
    assertServiceName('serviceName', serviceName, 63 - NODE_HOSTS_SUFFIX.length);
    if (props.hostsUpdateIntervalSeconds !== undefined) {
      assertIntegerInRange(
        'hostsUpdateIntervalSeconds',
        props.hostsUpdateIntervalSeconds,
        1,
        3600,
        'pick how many seconds to wait between lookups',
      );
    }

    const namespaceObject = new k8s.KubeNamespace(this, 'Namespace', { metadata: { name: namespace } });
    // A Namespace is cluster-scoped: drop the chart namespace cdk8s stamps on every object.
    namespaceObject.addJsonPatch(JsonPatch.remove('/metadata/namespace'));

    // Each piece checks itself against the material (certificate, hostname, ports, credentials).
    this.auth = new RegistryAuth(this, 'Auth', {
      material: props.material,
      secretName: registrySecretNames(serviceName).htpasswd,
    });
    this.registry = new RegistryServer(this, 'Registry', {
      name: serviceName,
      material: props.material,
      auth: this.auth,
      hostname: props.hostname,
      image: props.image,
      port: props.port,
      nodePort: props.nodePort,
      storage: props.storage,
      storageSize: props.storageSize,
      storageClassName: props.storageClassName,
      storageAccessMode: props.storageAccessMode,
      replicas: props.replicas,
    });
    this.hostname = this.registry.hostname;
    this.nodeHosts = new NodeHostsDaemonSet(this, 'NodeHosts', {
      registry: this.registry,
      material: props.material,
      intervalSeconds: props.hostsUpdateIntervalSeconds,
      name: `${serviceName}${NODE_HOSTS_SUFFIX}`,
    });
    if (props.garbageCollectionSchedule !== undefined || !this.registry.storage.sharedByReplicas) {
      this.garbageCollection = new RegistryGarbageCollection(this, 'GarbageCollection', {
        registry: this.registry,
        schedule: props.garbageCollectionSchedule,
      });
    }
    if (props.localRegistryHosting ?? true) {
      new LocalRegistryHosting(this, 'LocalRegistryHosting', {
        host: `localhost:${this.registry.nodePort}`,
        hostFromContainerRuntime: `${this.hostname}:${this.registry.port}`,
        hostFromClusterNetwork: `${serviceDnsName(this.registry)}:${this.registry.port}`,
        help: 'https://www.npmjs.com/package/cdk8s-private-registry',
      });
    }
  }
}
