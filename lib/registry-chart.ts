import { Chart, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import { CertificateAndKey } from './certificates';
import { DEFAULT_NAMESPACE, DEFAULT_REGISTRY_HOSTNAME, DEFAULT_SERVICE_NAME } from './defaults';
import { Credentials } from './htpasswd';
import { LocalRegistryHosting } from './local-registry-hosting';
import { NodeHostsDaemonSet } from './node-hosts-daemon-set';
import { RegistryAuth } from './registry-auth';
import { RegistryServer, StorageAccessMode, serviceDnsName } from './registry-server';
import { assertDnsLabel, assertHostname } from './validate';

/** What the chart is made from: the material directory's contents, or the same passed in code. */
export interface RegistryChartMaterial {
  readonly ca: CertificateAndKey;
  readonly tls: CertificateAndKey;
  /** A ready htpasswd file (bcrypt lines). */
  readonly htpasswd: string;
  /** The user the nodes pull with; must match the htpasswd. */
  readonly nodeCredentials: Credentials;
}

export interface RegistryChartProps {
  /** Certificates and users; `readMaterial()` / `loadOrCreateMaterial()` give it from a directory. */
  readonly material: RegistryChartMaterial;
  /** @default 'container-registry' */
  readonly namespace?: string;
  /** Name of the Service, Deployment and their objects. @default 'container-registry' */
  readonly serviceName?: string;
  /** The name the nodes use for the registry. @default 'container-registry.local' */
  readonly hostname?: string;
  /** @default 5000 */
  readonly port?: number;
  /** @default 31113 */
  readonly nodePort?: number;
  /** @default 'registry:3.1.1' */
  readonly image?: string;
  /** @default '10Gi' */
  readonly storageSize?: string;
  /** @default - the cluster's default storage class */
  readonly storageClassName?: string;
  /** @default 'ReadWriteOnce' */
  readonly storageAccessMode?: StorageAccessMode;
  /** @default 1 */
  readonly replicas?: number;
  /** @default 30 */
  readonly hostsUpdateIntervalSeconds?: number;
  /** Publish the KEP-1755 ConfigMap in kube-public. @default true */
  readonly localRegistryHosting?: boolean;
  /** Labels added to every object. @default - none */
  readonly labels?: Record<string, string>;
}

/**
 * Everything the cluster side needs, with the guide's names: the Namespace (first, so `kubectl apply -f
 * dist` works on an empty cluster), the registry, its users, the node hosts DaemonSet and KEP-1755.
 */
export class RegistryChart extends Chart {
  public readonly hostname: string;
  public readonly auth: RegistryAuth;
  public readonly registry: RegistryServer;
  public readonly nodeHosts: NodeHostsDaemonSet;

  constructor(scope: Construct, id: string, props: RegistryChartProps) {
    const namespace = props.namespace ?? DEFAULT_NAMESPACE;
    assertDnsLabel('namespace', namespace);
    super(scope, id, { namespace, labels: props.labels, disableResourceNameHashes: true });
    this.hostname = props.hostname ?? DEFAULT_REGISTRY_HOSTNAME;
    assertHostname('hostname', this.hostname);

    const namespaceObject = new k8s.KubeNamespace(this, 'Namespace', { metadata: { name: namespace } });
    // A Namespace is cluster-scoped: drop the chart namespace cdk8s stamps on every object.
    namespaceObject.addJsonPatch(JsonPatch.remove('/metadata/namespace'));

    this.auth = new RegistryAuth(this, 'Auth', {
      htpasswd: props.material.htpasswd,
      nodeCredentials: props.material.nodeCredentials,
      secretName: `${props.serviceName ?? DEFAULT_SERVICE_NAME}-htpasswd`,
    });
    this.registry = new RegistryServer(this, 'Registry', {
      name: props.serviceName,
      tls: props.material.tls,
      caCertificatePem: props.material.ca.certificatePem,
      auth: this.auth,
      image: props.image,
      port: props.port,
      nodePort: props.nodePort,
      storageSize: props.storageSize,
      storageClassName: props.storageClassName,
      storageAccessMode: props.storageAccessMode,
      replicas: props.replicas,
    });
    this.nodeHosts = new NodeHostsDaemonSet(this, 'NodeHosts', {
      registry: this.registry,
      hostname: this.hostname,
      intervalSeconds: props.hostsUpdateIntervalSeconds,
      name: `${this.registry.serviceName}-node-hosts`,
    });
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
