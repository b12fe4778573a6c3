/** The guide's names and ports, shared by the constructs, the material directory and the CLI. */
export const DEFAULT_NAMESPACE = 'container-registry';
/** The name of the registry Service, its Deployment and the objects named after it. */
export const DEFAULT_SERVICE_NAME = 'container-registry';

/** The Secrets a registry named `serviceName` gets: `<name>-tls` (RegistryServer), `<name>-htpasswd` (RegistryAuth). */
export function registrySecretNames(serviceName: string = DEFAULT_SERVICE_NAME): {
  readonly tls: string;
  readonly htpasswd: string;
} {
  return { tls: `${serviceName}-tls`, htpasswd: `${serviceName}-htpasswd` };
}
/** The registry's port and its Service's. */
export const DEFAULT_REGISTRY_PORT = 5000;
/**
 * The port of the registry's metrics server (not published by the Service). Each cache pod runs one there
 * too, so no cache may take it as its Service port.
 */
export const DEFAULT_METRICS_PORT = 5001;
/** The NodePort the desktop pushes to as localhost:31113. */
export const DEFAULT_NODE_PORT = 31113;
/** The name the nodes use for the registry; the DaemonSet maps it to the Service IP in /etc/hosts. */
export const DEFAULT_REGISTRY_HOSTNAME = 'container-registry.local';
/** Pinned: a floating tag would make the same synth deploy different code. */
export const DEFAULT_REGISTRY_IMAGE = 'registry:3.1.1';
/** The user the material is created with, and the nodes pull as. */
export const DEFAULT_USERNAME = 'registry';
/** Where the k3d volume mounts the material directory on every node. */
export const NODE_MATERIAL_MOUNT_PATH = '/registry';
/** The material directory synth and the CLI use, unless REGISTRY_MATERIAL_DIR or --dir says otherwise. */
export const DEFAULT_MATERIAL_DIR = 'registry';
/** The cluster's DNS domain: k3s's default. */
export const CLUSTER_DOMAIN = 'cluster.local';

/**
 * bcrypt cost of generated htpasswd lines. The registry verifies the hash on every request (a 10-layer
 * push is ~55 requests), so the cost multiplies straight into push time; see bench/ and the README. 4 keeps
 * a push within 1.3x of no auth; the generated passwords (~140 bits) do not rest on the cost at all.
 */
export const DEFAULT_BCRYPT_COST = 4;

/**
 * The node directory: the only part of the material a node mounts (read-only, at /registry). It holds
 * what the nodes read (registries.yaml, ca.crt, certs.d) and nothing else: the keys, the htpasswd and the
 * password stay on the desktop, outside it.
 */
export const NODE_DIR = 'node';

/** Directories of the node directory are 0755 (what a node reads is not secret, except registries.yaml). */
export const NODE_DIRECTORY_MODE = 0o755;
