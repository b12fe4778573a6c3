import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import {
  DEFAULT_CACHE_PORTS,
  DEFAULT_CACHE_TTL,
  assertCacheTtl,
  assertNotTheRegistry,
  cacheObjectNames,
  cachePortName,
  cacheSlug,
  resolveCacheUpstream,
} from './cache-upstreams';
import type { Credentials } from './htpasswd';
import { type RegistriesConfig, cacheMirrorsOf } from './registries-yaml';
import type { IRegistryAuth } from './registry-auth';
import {
  REGISTRY_STORAGE_PATH,
  base64Values,
  metricsAnnotations,
  registryContainer,
  registryPodSecurityContext,
  registryVolumes,
} from './registry-pod';
import type { IRegistryService } from './registry-server';
import { ValidationError, assertPinnedImage, assertPort, assertStorageSize } from './validate';

/**
 * The registry a cache rides on: RegistryServer. The cache is reached through its Service (one more port),
 * serves its TLS Secret (so the same certificate and CA) and shares its HTTP secret.
 */
export interface IRegistryCacheHost extends IRegistryService {
  /** The name the nodes use for the registry, and so for its caches (<hostname>:<cache port>). */
  readonly hostname: string;
  /** The registry's image: a cache runs the same one unless told otherwise. */
  readonly image: string;
  /** The Secret holding tls.crt and tls.key. */
  readonly tlsSecretName: string;
  /** SHA-256 of the certificate in that Secret: a renewal rolls the cache's pod as it rolls the registry's. */
  readonly tlsCertificateSha256: string;
  /** The Secret holding `http-secret`. */
  readonly httpSecretName: string;
  /**
   * A keyed hash (HMAC-SHA256) of `text` for a rollout annotation: it changes when `text` does, yet whoever
   * reads Deployments but not Secrets cannot test guesses of a credential in `text` against it.
   */
  rolloutHash(text: string): string;
  /** The port of the registry's metrics server, which a cache's own metrics server also uses. */
  readonly metricsPort: number;
  /** Publishes a cache's port on the registry's Service (see RegistryServer.addServicePort). */
  addServicePort(port: k8s.ServicePort): void;
}

/** A pull-through cache's settings: what RegistryChart's `caches` takes, one entry per upstream. */
export interface RegistryCacheOptions {
  /**
   * The registry it caches: 'docker.io', 'ghcr.io', 'quay.io', 'registry.k8s.io', or any https:// URL
   * (its host[:port] is the name image references use). The nodes pull that name through the cache.
   */
  readonly upstream: string;
  /**
   * Where the cache pulls from instead of the upstream's own address, e.g. a Docker Hub mirror.
   * @default - docker.io: https://registry-1.docker.io; ghcr.io, quay.io, registry.k8s.io: https://<name>; a URL: itself
   */
  readonly remoteUrl?: string;
  /**
   * The cache's port on the registry's Service; nodes pull through https://<hostname>:<port>.
   * @default - docker.io 5100, ghcr.io 5101, quay.io 5102, registry.k8s.io 5103; required for a URL upstream
   */
  readonly port?: number;
  /**
   * How long the cache keeps each manifest and layer it fetched before deleting it (a Go duration;
   * distribution's proxy.ttl, read by registry 3). Tags are asked of the upstream on every pull; the cache
   * answers from its copy while the upstream is unreachable, and serves what the upstream deleted until then.
   * @default '168h'
   */
  readonly ttl?: string;
  /**
   * An account at the upstream (a Docker Hub user and access token, a GitHub user and token): raises rate
   * limits, reaches private images. Only in a Secret of the cache's own, read through secretKeyRef.
   * @default - anonymous pulls
   */
  readonly credentials?: Credentials;
  /** @default '10Gi' */
  readonly storageSize?: string;
  /** @default - the cluster's default storage class (local-path on k3s) */
  readonly storageClassName?: string;
  /** @default - the registry's image */
  readonly image?: string;
  /** @default - requests 50m CPU / 64Mi, limits 1 CPU / 512Mi */
  readonly resources?: k8s.ResourceRequirements;
}

/** Props of RegistryCache: the registry it rides on, its users, and the cache's settings. */
export interface RegistryCacheProps extends RegistryCacheOptions {
  /** The registry whose Service, TLS Secret and HTTP secret the cache shares, usually a RegistryServer. */
  readonly registry: IRegistryCacheHost;
  /** The htpasswd Secret: the cache takes the registry's users. */
  readonly auth: IRegistryAuth;
  /**
   * The material the registry was made from: its registries.yaml must mirror this cache's upstream to
   * <hostname>:<port>, or the nodes would never pull through it (checked as RegistryChart checks it).
   * @default - not checked
   */
  readonly material?: { readonly registries?: RegistriesConfig };
}

const DEFAULT_STORAGE_SIZE = '10Gi';
/** Keys of a cache's upstream Secret (`<registry>-cache-<upstream>-upstream`). */
const UPSTREAM_USERNAME_KEY = 'username';
const UPSTREAM_PASSWORD_KEY = 'password';

/**
 * A pull-through cache of one upstream registry: a registry Deployment in proxy mode on a volume of its own,
 * reached at <registry hostname>:<port> through one more port of the registry's Service, with the registry's
 * certificate, users and pod hardening. It can only be pulled from (distribution#1218, #1849): pushes go
 * to the registry. Lives in the enclosing chart's namespace, which must be the registry's.
 */
export class RegistryCache extends Construct {
  /** The registry name in image references, e.g. docker.io. */
  public readonly upstream: string;
  /** Where the cache pulls from. */
  public readonly remoteUrl: string;
  public readonly port: number;
  public readonly ttl: string;
  public readonly image: string;
  /** Name of its Deployment and PersistentVolumeClaim: `<registry>-cache-<upstream with '-'>`. */
  public readonly name: string;
  /** Where the nodes pull through it: `<hostname>:<port>`. */
  public readonly endpoint: string;
  public readonly deployment: k8s.KubeDeployment;
  public readonly persistentVolumeClaim: k8s.KubePersistentVolumeClaim;
  /** The upstream credentials' Secret; only when `credentials` are given. */
  public readonly upstreamSecret?: k8s.KubeSecret;

  constructor(scope: Construct, id: string, props: RegistryCacheProps) {
    super(scope, id);
    const { registry } = props;
    const namespace = Chart.of(this).namespace ?? 'default';
    if (namespace !== registry.serviceNamespace) {
      throw new ValidationError(
        `RegistryCache must be in the registry's namespace ${JSON.stringify(registry.serviceNamespace)}, got ${JSON.stringify(namespace)}: its pods serve the registry's Service and mount its Secrets; create it in the registry's chart`,
      );
    }
    const { name: upstream, remoteUrl } = resolveCacheUpstream(props.upstream, props.remoteUrl);
    assertNotTheRegistry('upstream', upstream, registry.hostname);
    this.upstream = upstream;
    this.remoteUrl = remoteUrl;
    const port = props.port ?? DEFAULT_CACHE_PORTS[upstream];
    if (port === undefined) {
      throw new ValidationError(
        `'port' is needed for the cache of ${JSON.stringify(upstream)}: only ${Object.keys(DEFAULT_CACHE_PORTS).join(', ')} have a default; give a free port, e.g. port: 5104`,
      );
    }
    assertPort('port', port);
    if (port === registry.port || port === registry.metricsPort) {
      throw new ValidationError(
        `'port' of the ${upstream} cache is ${port}, which the registry uses (${port === registry.port ? 'its port' : 'its metrics port'}): pick another port, e.g. ${DEFAULT_CACHE_PORTS[upstream] ?? 5104}`,
      );
    }
    this.port = port;
    this.ttl = props.ttl ?? DEFAULT_CACHE_TTL;
    assertCacheTtl('ttl', this.ttl);
    this.image = props.image ?? registry.image;
    assertPinnedImage('image', this.image);
    const storageSize = props.storageSize ?? DEFAULT_STORAGE_SIZE;
    assertStorageSize('storageSize', storageSize);
    const credentials = props.credentials;
    if (credentials !== undefined && (!credentials.username || !credentials.password)) {
      throw new ValidationError(
        `'credentials' of the ${upstream} cache need both 'username' and 'password', got ${credentials.username ? 'no password' : 'no username'}: give both, or leave 'credentials' out for anonymous pulls`,
      );
    }
    const names = cacheObjectNames(registry.serviceName, upstream);
    this.name = names.name;
    // The Deployment's name, its PVC's and the label value below: all at most 63 characters.
    if (this.name.length > 63 - '-upstream'.length) {
      throw new ValidationError(
        `the cache of ${JSON.stringify(upstream)} would be named ${JSON.stringify(this.name)}, over ${63 - '-upstream'.length} characters: use a shorter registry 'serviceName' or upstream name`,
      );
    }
    this.endpoint = `${registry.hostname}:${port}`;
    const registries = props.material?.registries;
    if (registries !== undefined) {
      const mirror = cacheMirrorsOf(registries, registry.hostname, registry.port).find(
        (candidate) => candidate.upstream === upstream,
      );
      if (mirror?.port !== port) {
        throw new ValidationError(
          `the material's registries.yaml ${mirror === undefined ? `does not mirror ${upstream}` : `mirrors ${upstream} to port ${mirror.port}`}, but this cache serves it on ${this.endpoint}: the nodes would not pull through it; add it to the material (private-registry cache add ${upstream}${port === DEFAULT_CACHE_PORTS[upstream] ? '' : ` --port ${port}`}), or give the port the material says`,
        );
      }
    }
    const portName = cachePortName(port);

    // `name` is the label the registry's Service selects on; `component: cache` keeps these pods out of the
    // registry Deployment's selector (name + component: registry), and `upstream` apart from other caches.
    const labels = {
      'app.kubernetes.io/name': registry.serviceName,
      'app.kubernetes.io/component': 'cache',
      'cdk8s-private-registry/upstream': cacheSlug(upstream),
    };
    const upstreamSecretName = names.upstreamSecret;
    if (credentials !== undefined) {
      this.upstreamSecret = new k8s.KubeSecret(this, 'UpstreamSecret', {
        metadata: { name: upstreamSecretName, labels },
        type: 'Opaque',
        data: base64Values({
          [UPSTREAM_USERNAME_KEY]: credentials.username,
          [UPSTREAM_PASSWORD_KEY]: credentials.password,
        }),
      });
    }
    this.persistentVolumeClaim = new k8s.KubePersistentVolumeClaim(this, 'Storage', {
      metadata: { name: this.name, labels },
      spec: {
        accessModes: ['ReadWriteOnce'],
        storageClassName: props.storageClassName,
        resources: { requests: { storage: k8s.Quantity.fromString(storageSize) } },
      },
    });
    const fromSecret = (name: string, key: string): k8s.EnvVar => ({
      name,
      valueFrom: { secretKeyRef: { name: upstreamSecretName, key } },
    });
    this.deployment = new k8s.KubeDeployment(this, 'Deployment', {
      metadata: { name: this.name, labels },
      spec: {
        replicas: 1,
        // One ReadWriteOnce volume: the old pod lets go before the new one mounts it. While no cache pod is
        // ready the nodes pull from the upstream directly (the default endpoint stays last).
        strategy: { type: 'Recreate' },
        selector: { matchLabels: labels },
        template: {
          metadata: {
            labels,
            annotations: {
              // A renewed certificate, or new upstream settings or credentials, must roll the pod: files are
              // re-read, environment variables only at start. Keyed, so the annotation cannot be used to test
              // guesses of the token offline.
              'cdk8s-private-registry/tls-sha256': registry.tlsCertificateSha256,
              'cdk8s-private-registry/upstream-sha256': registry.rolloutHash(
                JSON.stringify({ remoteUrl, ttl: this.ttl, credentials: credentials ?? null }),
              ),
              ...metricsAnnotations(registry.metricsPort),
            },
          },
          spec: {
            automountServiceAccountToken: false,
            securityContext: registryPodSecurityContext(),
            containers: [
              registryContainer({
                image: this.image,
                port,
                portName,
                metricsPort: registry.metricsPort,
                httpSecretName: registry.httpSecretName,
                auth: props.auth,
                environment: [
                  { name: 'REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY', value: REGISTRY_STORAGE_PATH },
                  // The cache deletes what its TTL expired: without this its storage only grows.
                  { name: 'REGISTRY_STORAGE_DELETE_ENABLED', value: 'true' },
                  { name: 'REGISTRY_PROXY_REMOTEURL', value: remoteUrl },
                  { name: 'REGISTRY_PROXY_TTL', value: this.ttl },
                  ...(credentials === undefined
                    ? []
                    : [
                        fromSecret('REGISTRY_PROXY_USERNAME', UPSTREAM_USERNAME_KEY),
                        fromSecret('REGISTRY_PROXY_PASSWORD', UPSTREAM_PASSWORD_KEY),
                      ]),
                ],
                mountStorage: true,
                resources: props.resources,
              }),
            ],
            volumes: registryVolumes({ claimName: this.name, tlsSecretName: registry.tlsSecretName, auth: props.auth }),
          },
        },
      },
    });
    // The cluster picks this port's NodePort (the Service is a NodePort one); k3d publishes only the registry's,
    // and the desktop never pulls through a cache.
    registry.addServicePort({ name: portName, port, targetPort: k8s.IntOrString.fromString(portName) });
  }
}
