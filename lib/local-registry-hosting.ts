import { Yaml } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import { renderPlainYaml } from './block-yaml';

/** Props of LocalRegistryHosting: the KEP-1755 fields; only `host` is required. */
export interface LocalRegistryHostingProps {
  /** What the desktop pushes to, e.g. localhost:31113. */
  readonly host: string;
  /** How the nodes' container runtime names the registry. @default - none */
  readonly hostFromContainerRuntime?: string;
  /** How pods reach it over the cluster network. @default - none */
  readonly hostFromClusterNetwork?: string;
  /** A page that explains the setup. @default - none */
  readonly help?: string;
  /**
   * Pull-through caches, published under a key of their own (`pullThroughCaches.v1`) beside the KEP's:
   * tools that read only `localRegistryHosting.v1` see the KEP's fields unchanged.
   * @default - none: no such key
   */
  readonly pullThroughCaches?: readonly PullThroughCacheHosting[];
}

/** How a pull-through cache is reached, in the KEP's terms. */
export interface PullThroughCacheHosting {
  /** The registry it caches, as image references name it, e.g. docker.io. */
  readonly upstream: string;
  /** Where the cache pulls from, e.g. https://registry-1.docker.io. */
  readonly remoteUrl: string;
  /** How the nodes' container runtime reaches the cache, e.g. container-registry.local:5100. */
  readonly hostFromContainerRuntime: string;
  /** How pods reach it over the cluster network. */
  readonly hostFromClusterNetwork: string;
}

/**
 * KEP-1755: the `local-registry-hosting` ConfigMap in `kube-public`, read by Tilt, Skaffold and ctlptl
 * to find where to push. Always in kube-public, whatever the enclosing chart's namespace.
 */
export class LocalRegistryHosting extends Construct {
  public static readonly NAMESPACE = 'kube-public';
  public static readonly NAME = 'local-registry-hosting';
  /** The ConfigMap key listing the pull-through caches (ours, not the KEP's). */
  public static readonly CACHES_KEY = 'pullThroughCaches.v1';
  public readonly configMap: k8s.KubeConfigMap;

  constructor(scope: Construct, id: string, props: LocalRegistryHostingProps) {
    super(scope, id);
    const value = Object.fromEntries(
      Object.entries({
        host: props.host,
        hostFromContainerRuntime: props.hostFromContainerRuntime,
        hostFromClusterNetwork: props.hostFromClusterNetwork,
        help: props.help,
      }).filter(([, field]) => field !== undefined),
    );
    this.configMap = new k8s.KubeConfigMap(this, 'ConfigMap', {
      metadata: { name: LocalRegistryHosting.NAME, namespace: LocalRegistryHosting.NAMESPACE },
      data: {
        // Plain words, written as cdk8s's YAML writer writes them; its first call alone costs ~2 ms a synth.
        'localRegistryHosting.v1': renderPlainYaml(value) ?? Yaml.stringify(value),
        ...(props.pullThroughCaches === undefined || props.pullThroughCaches.length === 0
          ? {}
          : { [LocalRegistryHosting.CACHES_KEY]: Yaml.stringify([...props.pullThroughCaches]) }),
      },
    });
  }
}
