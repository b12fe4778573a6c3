import { createHash } from 'node:crypto';
import { k8s } from 'cdk8s-plus-28';
import type { IRegistryAuth } from './registry-auth';

/**
 * The pod every registry process runs in, the registry's and each pull-through cache's alike: non-root,
 * read-only root filesystem, no capabilities, RuntimeDefault seccomp, no service account token, TLS and
 * htpasswd from Secrets readable by the registry's group only, metrics on a port of their own. One
 * definition, so a cache can never be hardened less than the registry (Pod Security "restricted").
 */

/** Where the registry keeps its data in the container (distribution's default). */
export const REGISTRY_STORAGE_PATH = '/var/lib/registry';
const CERTS_PATH = '/certs';
const AUTH_PATH = '/auth';
const RUN_AS_USER = 1000;
/** The path of the Prometheus metrics on the debug port. */
export const METRICS_PATH = '/metrics';

/** What differs between the registry's container and a cache's. */
export interface RegistryContainerOptions {
  readonly image: string;
  /** The TLS port the registry process listens on. */
  readonly port: number;
  /** Its container port's name, which the Service's port targets: 'https' for the registry, 'cache-5100' for a cache. */
  readonly portName: string;
  readonly metricsPort: number;
  /** The Secret holding `http-secret`. */
  readonly httpSecretName: string;
  readonly auth: IRegistryAuth;
  /** Storage, deletion and proxy settings: between the auth settings and the debug server's. */
  readonly environment: readonly k8s.EnvVar[];
  /** Mount the `storage` volume at REGISTRY_STORAGE_PATH (not with S3). */
  readonly mountStorage: boolean;
  readonly resources?: k8s.ResourceRequirements;
}

/** The registry container: TLS and htpasswd from the mounted Secrets, probes over HTTPS, locked down. */
export function registryContainer(options: RegistryContainerOptions): k8s.Container {
  const probe = (initialDelaySeconds: number): k8s.Probe => ({
    // The registry answers 200 on "/" without credentials; /v2/ would be 401.
    httpGet: { path: '/', port: k8s.IntOrString.fromNumber(options.port), scheme: 'HTTPS' },
    initialDelaySeconds,
    periodSeconds: 10,
    timeoutSeconds: 3,
  });
  return {
    name: 'registry',
    image: options.image,
    ports: [
      { name: options.portName, containerPort: options.port },
      { name: 'metrics', containerPort: options.metricsPort },
    ],
    env: [
      { name: 'REGISTRY_HTTP_ADDR', value: `0.0.0.0:${options.port}` },
      { name: 'REGISTRY_HTTP_TLS_CERTIFICATE', value: `${CERTS_PATH}/tls.crt` },
      { name: 'REGISTRY_HTTP_TLS_KEY', value: `${CERTS_PATH}/tls.key` },
      {
        name: 'REGISTRY_HTTP_SECRET',
        valueFrom: { secretKeyRef: { name: options.httpSecretName, key: 'http-secret' } },
      },
      { name: 'REGISTRY_AUTH', value: 'htpasswd' },
      { name: 'REGISTRY_AUTH_HTPASSWD_REALM', value: options.auth.realm },
      { name: 'REGISTRY_AUTH_HTPASSWD_PATH', value: `${AUTH_PATH}/${options.auth.htpasswdKey}` },
      ...options.environment,
      { name: 'REGISTRY_HTTP_DEBUG_ADDR', value: `0.0.0.0:${options.metricsPort}` },
      { name: 'REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED', value: 'true' },
      { name: 'REGISTRY_HTTP_DEBUG_PROMETHEUS_PATH', value: METRICS_PATH },
      // Registry 3 exports traces to localhost:4318 unless told not to (distribution#4270).
      { name: 'OTEL_TRACES_EXPORTER', value: 'none' },
    ],
    volumeMounts: [
      ...(options.mountStorage ? [{ name: 'storage', mountPath: REGISTRY_STORAGE_PATH }] : []),
      { name: 'tls', mountPath: CERTS_PATH, readOnly: true },
      { name: 'auth', mountPath: AUTH_PATH, readOnly: true },
      { name: 'tmp', mountPath: '/tmp' },
    ],
    readinessProbe: probe(1),
    livenessProbe: probe(10),
    resources: options.resources ?? {
      requests: { cpu: k8s.Quantity.fromString('50m'), memory: k8s.Quantity.fromString('64Mi') },
      limits: { cpu: k8s.Quantity.fromString('1'), memory: k8s.Quantity.fromString('512Mi') },
    },
    securityContext: {
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
  };
}

/** The pod-level settings: a fixed non-root user whose group reads the Secrets, RuntimeDefault seccomp. */
export function registryPodSecurityContext(): k8s.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_AS_USER,
    runAsGroup: RUN_AS_USER,
    fsGroup: RUN_AS_USER,
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** The volumes registryContainer mounts; `claimName` is the storage volume's claim (none with S3). */
export function registryVolumes(options: {
  readonly claimName?: string;
  readonly tlsSecretName: string;
  readonly auth: IRegistryAuth;
}): k8s.Volume[] {
  return [
    ...(options.claimName === undefined
      ? []
      : [{ name: 'storage', persistentVolumeClaim: { claimName: options.claimName } }]),
    // 0440 + fsGroup: the registry's group can read the key, nobody else in the pod.
    { name: 'tls', secret: { secretName: options.tlsSecretName, defaultMode: 0o440 } },
    { name: 'auth', secret: { secretName: options.auth.secretName, defaultMode: 0o440 } },
    { name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('64Mi') } },
  ];
}

/** Prometheus scrape annotations pointing at the metrics port. */
export function metricsAnnotations(metricsPort: number): Record<string, string> {
  return {
    'prometheus.io/scrape': 'true',
    'prometheus.io/port': String(metricsPort),
    'prometheus.io/path': METRICS_PATH,
  };
}

/** Hex SHA-256 of `text`: pod annotations that roll the pod when what they hash changes. */
export function sha256(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Secret `data`: each value base64-encoded. */
export function base64Values(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(values).map(([key, value]) => [key, Buffer.from(value).toString('base64')]));
}
