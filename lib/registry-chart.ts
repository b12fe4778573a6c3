import { Chart, JsonPatch } from 'cdk8s';
import type { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import type { CertificateAndKey } from './certificates';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE_NAME, registrySecretNames } from './defaults';
import type { Credentials } from './htpasswd';
import { LocalRegistryHosting } from './local-registry-hosting';
import { NodeHostsDaemonSet } from './node-hosts-daemon-set';
import { podSecurityLabels } from './pod-security';
import type { RegistriesConfig } from './registries-yaml';
import {
  DEFAULT_CACHE_PORTS,
  assertCachesDistinct,
  cacheSlug,
  nextCachePort,
  resolveCacheUpstream,
} from './cache-upstreams';
import { assertCachesAgree, materialAddresses } from './material-agreement';
import { RegistryAuth } from './registry-auth';
import { RegistryCache, type RegistryCacheOptions } from './registry-cache';
import { RegistryGarbageCollection } from './registry-garbage-collection';
import { RegistryServer, type StorageAccessMode, serviceDnsName } from './registry-server';
import type { RegistryStorage } from './registry-storage';
import { ValidationError, assertDnsLabel, assertIntegerInRange, assertServiceName } from './validate';

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
  /**
   * The pull-through caches the material holds (readMaterial() gives them); the chart's `caches` default.
   * @default - none
   */
  readonly caches?: readonly RegistryCacheOptions[];
}

/** Props of RegistryChart: only `material` is required. */
export interface RegistryChartProps {
  /** Certificates and users; `readMaterial()` / `loadOrCreateMaterial()` give it from a directory. */
  readonly material: RegistryChartMaterial;
  /** The registry's Namespace; it enforces Pod Security "restricted". @default 'container-registry' */
  readonly namespace?: string;
  /**
   * The hosts DaemonSet's own Namespace, at Pod Security "privileged" (its hostPath needs it).
   * @default - '<namespace>-node-hosts'
   */
  readonly nodeHostsNamespace?: string;
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
  /**
   * Pull-through caches, one per upstream (docker.io, ghcr.io, quay.io, registry.k8s.io or an https:// URL):
   * each a registry in proxy mode on its own volume, on one more port of the registry's Service. With the
   * material's registries.yaml, they must be the ones it mirrors (private-registry cache add).
   * @default - the material's `caches`, else none
   */
  readonly caches?: readonly RegistryCacheOptions[];
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
  /** One per upstream, in the order given. */
  public readonly caches: readonly RegistryCache[];

  constructor(scope: Construct, id: string, props: RegistryChartProps) {
    const namespace = props.namespace ?? DEFAULT_NAMESPACE;
    assertDnsLabel('namespace', namespace);
    super(scope, id, { namespace, labels: props.labels, disableResourceNameHashes: true });

    const serviceName = props.serviceName ?? DEFAULT_SERVICE_NAME;
    const nodeHostsNamespace = props.nodeHostsNamespace ?? `${namespace}${NODE_HOSTS_SUFFIX}`;
    if (props.nodeHostsNamespace === undefined && nodeHostsNamespace.length > 63) {
      throw new ValidationError(
        `'namespace' must be at most ${63 - NODE_HOSTS_SUFFIX.length} characters when 'nodeHostsNamespace' is not given (the hosts DaemonSet's Namespace is "<namespace>${NODE_HOSTS_SUFFIX}"), got ${JSON.stringify(namespace)}: pick a shorter namespace or give 'nodeHostsNamespace'`,
      );
    }
    assertDnsLabel('nodeHostsNamespace', nodeHostsNamespace);
    if (nodeHostsNamespace === namespace) {
      throw new ValidationError(
        `'nodeHostsNamespace' must differ from 'namespace', got ${JSON.stringify(namespace)} for both: the registry's Namespace enforces Pod Security "restricted", which the hosts DaemonSet's hostPath breaks`,
      );
    }
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

    // The registry's pod meets "restricted", so its Namespace enforces it.
    const namespaceObject = new k8s.KubeNamespace(this, 'Namespace', {
      metadata: { name: namespace, labels: podSecurityLabels('restricted') },
    });
    // The hosts DaemonSet writes the node's /etc/hosts through a hostPath volume, which every Pod Security
    // level but "privileged" forbids (baseline already bans hostPath, and no level allows one file only).
    // So it gets a Namespace of its own, holding nothing else, at "privileged"; the registry's stays
    // "restricted". Its container is still locked down (no capabilities, no escalation, read-only root).
    const nodeHostsNamespaceObject = new k8s.KubeNamespace(this, 'NodeHostsNamespace', {
      metadata: { name: nodeHostsNamespace, labels: podSecurityLabels('privileged') },
    });
    // A Namespace is cluster-scoped: drop the chart namespace cdk8s stamps on every object.
    for (const object of [namespaceObject, nodeHostsNamespaceObject])
      object.addJsonPatch(JsonPatch.remove('/metadata/namespace'));

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
      namespace: nodeHostsNamespace,
    });
    if (props.garbageCollectionSchedule !== undefined || !this.registry.storage.sharedByReplicas) {
      this.garbageCollection = new RegistryGarbageCollection(this, 'GarbageCollection', {
        registry: this.registry,
        schedule: props.garbageCollectionSchedule,
      });
    }
    this.caches = this.addCaches(props.caches ?? props.material.caches ?? [], props.material.registries);
    if (props.localRegistryHosting ?? true) {
      new LocalRegistryHosting(this, 'LocalRegistryHosting', {
        host: `localhost:${this.registry.nodePort}`,
        hostFromContainerRuntime: `${this.hostname}:${this.registry.port}`,
        hostFromClusterNetwork: `${serviceDnsName(this.registry)}:${this.registry.port}`,
        // The KEP's own document: this package has no web page of its own to point at.
        help: 'https://github.com/kubernetes/enhancements/tree/master/keps/sig-cluster-lifecycle/generic/1755-communicating-a-local-registry',
        pullThroughCaches: this.caches.map((cache) => ({
          upstream: cache.upstream,
          remoteUrl: cache.remoteUrl,
          hostFromContainerRuntime: cache.endpoint,
          hostFromClusterNetwork: `${serviceDnsName(this.registry)}:${cache.port}`,
        })),
      });
    }
  }

  /** One RegistryCache per entry, each upstream and port once, agreeing with the material's registries.yaml. */
  private addCaches(caches: readonly RegistryCacheOptions[], registries?: RegistriesConfig): RegistryCache[] {
    if (!Array.isArray(caches)) {
      throw new ValidationError(
        `'caches' must be a list of { upstream, ... }, got ${typeof caches}: e.g. caches: [{ upstream: 'docker.io' }]`,
      );
    }
    const resolved = caches.map((cache, index) => {
      let name: string;
      try {
        name = resolveCacheUpstream(cache?.upstream, cache?.remoteUrl).name;
      } catch (error) {
        if (!(error instanceof ValidationError)) throw error;
        // Name the entry: 'upstream' alone does not say which cache.
        throw new ValidationError(error.message.replace(/'(upstream|remoteUrl)'/, `'caches[${index}].$1'`));
      }
      const port = cache.port ?? DEFAULT_CACHE_PORTS[name];
      if (port === undefined) {
        throw new ValidationError(
          `'caches[${index}].port' is needed for the cache of ${JSON.stringify(name)}: only ${Object.keys(DEFAULT_CACHE_PORTS).join(', ')} have a default; give a free port, e.g. port: ${nextCachePort(name, [this.registry.port, ...caches.map((other) => other.port ?? 0)])}`,
        );
      }
      return { upstream: name, port };
    });
    assertCachesDistinct('caches', resolved, { port: this.registry.port, 'metrics port': this.registry.metricsPort });
    assertCachesAgree(resolved, registries, materialAddresses(registries));
    return caches.map(
      (cache, index) =>
        new RegistryCache(this, `Cache-${cacheSlug(resolved[index].upstream)}`, {
          ...cache,
          registry: this.registry,
          auth: this.auth,
          material: { registries },
        }),
    );
  }
}
