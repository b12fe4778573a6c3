import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import { DEFAULT_REGISTRY_HOSTNAME } from './defaults';
import { agreeWithMaterial, materialAddresses } from './material-agreement';
import type { RegistriesConfig } from './registries-yaml';
import { type IRegistryService, serviceDnsName } from './registry-server';
import {
  ValidationError,
  assertDnsLabel,
  assertIntegerInRange,
  assertPinnedImage,
  assertRegistryHostname,
} from './validate';

/** The script the DaemonSet runs, kept in its own file so it can be tested under a real `sh`. */
export const NODE_HOSTS_SCRIPT = fs.readFileSync(path.join(__dirname, 'node-hosts.sh'), 'utf8');

/** What NodeHostsDaemonSet takes from the material; `readMaterial()` and `loadOrCreateMaterial()` give it. */
export interface NodeHostsMaterial {
  /**
   * The nodes' registries.yaml: `hostname` follows its endpoint host and must agree with it.
   * @default - none: `hostname` follows the registry, else its default
   */
  readonly registries?: RegistriesConfig;
}

/** Props of NodeHostsDaemonSet: only `registry` is required. */
export interface NodeHostsDaemonSetProps {
  /** The registry Service whose ClusterIP goes into every node's /etc/hosts. */
  readonly registry: IRegistryService;
  /**
   * The material the nodes read: the hostname written into /etc/hosts must be the one its registries.yaml
   * sends the nodes to.
   * @default - none
   */
  readonly material?: NodeHostsMaterial;
  /**
   * The name the nodes use for the registry (registries.yaml's endpoint host); it must be the registry's.
   * @default - the material's, else the registry's `hostname`, else 'container-registry.local'
   */
  readonly hostname?: string;
  /** How often the Service IP is looked up again. @default 30 */
  readonly intervalSeconds?: number;
  /** @default 'busybox:1.37.0' */
  readonly image?: string;
  /** Name of the DaemonSet and its ConfigMap. @default 'container-registry-node-hosts' */
  readonly name?: string;
  /**
   * The Namespace of the DaemonSet and its ConfigMap. Its hostPath volume needs Pod Security "privileged",
   * so give it a Namespace of its own rather than the registry's. The Service is found by its DNS name,
   * across namespaces.
   * @default - the chart's namespace
   */
  readonly namespace?: string;
}

/**
 * A DaemonSet on every node (control plane included) that keeps `<registry Service IP> <hostname>` in
 * the node's /etc/hosts, so containerd on the node can reach the registry. Only /etc/hosts is mounted;
 * the container is unprivileged with every capability dropped. Refuses a hostname that disagrees with
 * the material's registries.yaml or with the registry's own.
 */
export class NodeHostsDaemonSet extends Construct {
  public readonly name: string;
  public readonly namespace: string;
  public readonly hostname: string;
  public readonly intervalSeconds: number;
  public readonly image: string;
  public readonly daemonSet: k8s.KubeDaemonSet;
  public readonly configMap: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: NodeHostsDaemonSetProps) {
    super(scope, id);
    this.name = props.name ?? 'container-registry-node-hosts';
    const fromMaterial = materialAddresses(props.material?.registries)?.hostname;
    this.hostname = agreeWithMaterial(
      'hostname',
      props.hostname,
      fromMaterial,
      props.registry.hostname ?? DEFAULT_REGISTRY_HOSTNAME,
    );
    this.intervalSeconds = props.intervalSeconds ?? 30;
    this.image = props.image ?? 'busybox:1.37.0';
    assertPinnedImage('image', this.image);
    assertDnsLabel('name', this.name);
    assertRegistryHostname('hostname', this.hostname);
    const served = props.registry.hostname;
    if (served !== undefined && served !== this.hostname) {
      const told =
        props.hostname === undefined
          ? `the material's registries.yaml says ${JSON.stringify(this.hostname)}`
          : `'hostname' is ${JSON.stringify(this.hostname)}`;
      throw new ValidationError(
        `${told} but 'registry' is for ${JSON.stringify(served)}, the name its certificate is checked for: containerd on the nodes would not reach or trust the registry; give the DaemonSet and the registry the same material, or leave 'hostname' out to follow the registry`,
      );
    }
    assertIntegerInRange(
      'intervalSeconds',
      this.intervalSeconds,
      1,
      3600,
      'pick how many seconds to wait between lookups',
    );

    if (props.namespace !== undefined) assertDnsLabel('namespace', props.namespace);
    this.namespace = props.namespace ?? Chart.of(this).namespace ?? 'default';
    const labels = { 'app.kubernetes.io/name': this.name, 'app.kubernetes.io/component': 'node-hosts' };
    const namespace = props.namespace === undefined ? {} : { namespace: props.namespace };
    this.configMap = new k8s.KubeConfigMap(this, 'Script', {
      metadata: { name: this.name, ...namespace, labels },
      data: { 'node-hosts.sh': NODE_HOSTS_SCRIPT },
    });

    // Service links only cover Services of the pod's own namespace; SERVICE_DNS_NAME works from any.
    const sameNamespace = this.namespace === props.registry.serviceNamespace;
    const serviceHostVariable = `${props.registry.serviceName.toUpperCase().replace(/-/g, '_')}_SERVICE_HOST`;
    const env: k8s.EnvVar[] = [
      { name: 'HOSTS_FILE', value: '/host/etc/hosts' },
      { name: 'REGISTRY_HOSTNAME', value: this.hostname },
      { name: 'SERVICE_DNS_NAME', value: serviceDnsName(props.registry) },
      ...(sameNamespace ? [{ name: 'SERVICE_IP_FALLBACK', value: `$(${serviceHostVariable})` }] : []),
      { name: 'INTERVAL_SECONDS', value: String(this.intervalSeconds) },
    ];

    this.daemonSet = new k8s.KubeDaemonSet(this, 'DaemonSet', {
      metadata: { name: this.name, ...namespace, labels },
      spec: {
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels,
            // A changed script rolls the pods.
            annotations: {
              'cdk8s-private-registry/script-sha256': createHash('sha256').update(NODE_HOSTS_SCRIPT).digest('hex'),
            },
          },
          spec: {
            automountServiceAccountToken: false,
            // Every node pulls, so every node needs the entry: tolerate every taint.
            tolerations: [{ operator: 'Exists' }],
            terminationGracePeriodSeconds: 5,
            securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
            containers: [
              {
                name: 'node-hosts',
                image: this.image,
                command: ['/bin/sh', '/scripts/node-hosts.sh'],
                env,
                volumeMounts: [
                  { name: 'node-hosts-file', mountPath: '/host/etc/hosts' },
                  { name: 'script', mountPath: '/scripts', readOnly: true },
                  { name: 'tmp', mountPath: '/tmp' },
                ],
                resources: {
                  requests: { cpu: k8s.Quantity.fromString('5m'), memory: k8s.Quantity.fromString('8Mi') },
                  limits: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('32Mi') },
                },
                securityContext: {
                  // Root owns the node's /etc/hosts; owner write needs no capability.
                  runAsUser: 0,
                  runAsNonRoot: false,
                  privileged: false,
                  allowPrivilegeEscalation: false,
                  readOnlyRootFilesystem: true,
                  capabilities: { drop: ['ALL'] },
                },
              },
            ],
            volumes: [
              { name: 'node-hosts-file', hostPath: { path: '/etc/hosts', type: 'File' } },
              { name: 'script', configMap: { name: this.name, defaultMode: 0o555 } },
              { name: 'tmp', emptyDir: { medium: 'Memory', sizeLimit: k8s.Quantity.fromString('1Mi') } },
            ],
          },
        },
      },
    });
  }
}
