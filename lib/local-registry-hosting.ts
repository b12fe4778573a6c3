import { Yaml } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';

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
}

/**
 * KEP-1755: the `local-registry-hosting` ConfigMap in `kube-public`, read by Tilt, Skaffold and ctlptl
 * to find where to push. Always in kube-public, whatever the enclosing chart's namespace.
 */
export class LocalRegistryHosting extends Construct {
  public static readonly NAMESPACE = 'kube-public';
  public static readonly NAME = 'local-registry-hosting';
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
      // cdk8s's own YAML writer, loaded with cdk8s anyway.
      data: { 'localRegistryHosting.v1': Yaml.stringify(value) },
    });
  }
}
