import path from 'node:path';
import type * as Yaml from 'js-yaml';
import { renderPlainYaml } from './block-yaml';
import { DEFAULT_NODE_PORT, NODE_DIR, NODE_MATERIAL_MOUNT_PATH } from './defaults';
import { DEFAULT_K3S_IMAGE, assertKnownGoodK3sImage, k3sVersionOfImage, k3sVersionProblem } from './k3s-version';
import { MATERIAL_FILES, nodePathOf } from './material-files';
import { ValidationError, assertDnsLabel, assertIntegerInRange, assertNodePort } from './validate';

/** k3d's own default cluster name, so `k3d cluster list/delete` work without naming it. */
export const DEFAULT_K3D_CLUSTER_NAME = 'k3s-default';
/** k3d rejects longer cluster names ("Cluster name must be <= 32 characters"). */
const MAX_K3D_CLUSTER_NAME_LENGTH = 32;
/** Where k3s on every node finds registries.yaml, given the volume `<material dir>/node:/registry:ro`. */
export const NODE_REGISTRIES_FILE = nodePathOf(MATERIAL_FILES.registriesYaml);

/** Options of k3dClusterConfig. */
export interface K3dClusterOptions {
  /** The material directory, absolute; its node directory is mounted read-only at /registry on every node. */
  readonly materialDir: string;
  /**
   * The k3s image of every node; a version known to break the registry (see k3sVersionProblem) is refused.
   * @default DEFAULT_K3S_IMAGE
   */
  readonly image?: string;
  /** The registry's NodePort, published on 127.0.0.1 only. @default 31113 */
  readonly nodePort?: number;
  /** @default 'k3s-default' */
  readonly name?: string;
  /** @default 1 */
  readonly servers?: number;
  /** @default 0 */
  readonly agents?: number;
}

/** The part of k3d's `k3d.io/v1alpha5` Simple config this project writes. */
export interface K3dSimpleConfig {
  readonly apiVersion: 'k3d.io/v1alpha5';
  readonly kind: 'Simple';
  readonly metadata: { readonly name: string };
  readonly servers: number;
  readonly image: string;
  readonly agents: number;
  readonly volumes: K3dNodeFiltered<'volume'>[];
  readonly ports: K3dNodeFiltered<'port'>[];
  readonly options: { readonly k3s: { readonly extraArgs: K3dNodeFiltered<'arg'>[] } };
}

/** A k3d config value applied to the nodes its `nodeFilters` select. */
export type K3dNodeFiltered<K extends string> = { readonly [key in K]: string } & { readonly nodeFilters: string[] };

/**
 * A cluster whose nodes all trust the registry: the material's node directory (registries.yaml, ca.crt,
 * certs.d; no key, htpasswd or password) on every node at /registry, read-only, k3s told to read
 * /registry/certs/registries.yaml, a pinned k3s, and the NodePort on the load balancer bound to 127.0.0.1
 * (a port mapping without a host IP would put the registry on the LAN).
 */
export function k3dClusterConfig(options: K3dClusterOptions): K3dSimpleConfig {
  const name = options.name ?? DEFAULT_K3D_CLUSTER_NAME;
  const servers = options.servers ?? 1;
  const agents = options.agents ?? 0;
  const nodePort = options.nodePort ?? DEFAULT_NODE_PORT;
  assertDnsLabel('name', name);
  if (name.length > MAX_K3D_CLUSTER_NAME_LENGTH) {
    throw new ValidationError(
      `'name' must be at most ${MAX_K3D_CLUSTER_NAME_LENGTH} characters (k3d's limit), got ${JSON.stringify(name)} (${name.length}): pick a shorter name`,
    );
  }
  assertIntegerInRange('servers', servers, 1, 99, 'give the number of server nodes, usually 1 (3 for HA)');
  assertIntegerInRange('agents', agents, 0, 99, 'give the number of agent nodes, e.g. 0 or 2');
  assertNodePort('nodePort', nodePort);
  const image = options.image ?? DEFAULT_K3S_IMAGE;
  assertKnownGoodK3sImage('image', image);
  // k3d splits volume specs at ':' and '@', and node filters at ';'.
  if (!path.isAbsolute(options.materialDir) || /[:@;,]/.test(options.materialDir)) {
    throw new ValidationError(
      `'materialDir' must be an absolute path without ':', '@', ';' or ',', got ${JSON.stringify(options.materialDir)}: k3d cannot mount it; move the material directory`,
    );
  }
  // Agents too even when there are none yet: k3d's wildcard over an empty group matches nothing, no error.
  const nodeFilters = ['server:*', 'agent:*'];
  return {
    apiVersion: 'k3d.io/v1alpha5',
    kind: 'Simple',
    metadata: { name },
    servers,
    agents,
    image,
    // k3d hands `src:dst:ro` to Docker as a bind mount; `ro` keeps k3s, and anything with a shell on a node,
    // from changing what every node trusts.
    volumes: [{ volume: `${nodeDirOf(options.materialDir)}:${NODE_MATERIAL_MOUNT_PATH}:ro`, nodeFilters }],
    ports: [{ port: `127.0.0.1:${nodePort}:${nodePort}`, nodeFilters: ['loadbalancer'] }],
    options: { k3s: { extraArgs: [{ arg: `--private-registry=${NODE_REGISTRIES_FILE}`, nodeFilters }] } },
  };
}

/** The material's node directory, the only part of it a node mounts. */
function nodeDirOf(materialDir: string): string {
  return path.join(materialDir, NODE_DIR);
}

/** The config as a k3d YAML file. */
export function renderK3dConfig(config: K3dSimpleConfig): string {
  const header = [
    `# k3d cluster with the private registry: k3d cluster create --config <this file>`,
    `# Every node mounts the material's node directory (no key, htpasswd or password) read-only at ${NODE_MATERIAL_MOUNT_PATH}, and k3s reads ${NODE_REGISTRIES_FILE} at start.`,
    `# The registry port is bound to 127.0.0.1 only, so the registry is not reachable from the LAN.`,
    `# Do not add k3d "registries:" settings: with --private-registry k3s never reads the file k3d writes them to.`,
    `# An agent added later gets the volume but not the k3s argument; give it again:`,
    `#   k3d node create NAME --cluster ${config.metadata.name} --role agent --image ${config.image} --k3s-arg ${agentArgOf(config)}`,
  ];
  // Our own writer for what it can write exactly as js-yaml does (every config this CLI makes): no js-yaml load.
  const body =
    renderPlainYaml(config as unknown as Record<string, unknown>) ??
    yaml().dump(config, { lineWidth: -1, noRefs: true });
  return `${header.join('\n')}\n${body}`;
}

/** The same cluster as one `k3d cluster create` argument list (flags `--volume/--port/--k3s-arg VALUE@FILTERS`). */
export function k3dCreateArgs(config: K3dSimpleConfig): string[] {
  const filtered = (flag: string, value: string, nodeFilters: string[]): string[] => [
    flag,
    `${value}@${nodeFilters.join(';')}`,
  ];
  return [
    'k3d',
    'cluster',
    'create',
    config.metadata.name,
    '--servers',
    String(config.servers),
    '--agents',
    String(config.agents),
    '--image',
    config.image,
    ...config.volumes.flatMap((entry) => filtered('--volume', entry.volume, entry.nodeFilters)),
    ...config.ports.flatMap((entry) => filtered('--port', entry.port, entry.nodeFilters)),
    ...config.options.k3s.extraArgs.flatMap((entry) => filtered('--k3s-arg', entry.arg, entry.nodeFilters)),
  ];
}

export { shellCommandLine, shellQuote } from './shell-words';

/** The --private-registry argument an agent added later with `k3d node create` must be given again. */
function agentArgOf(config: K3dSimpleConfig): string {
  return config.options.k3s.extraArgs[0]?.arg ?? `--private-registry=${NODE_REGISTRIES_FILE}`;
}

/**
 * What is wrong, for this registry, with a k3d config (parsed YAML): k3d `registries:` settings that
 * --private-registry makes k3s ignore, a k3s image of a broken version, a volume that mounts the whole
 * material directory (keys included) instead of its node directory, or a writable one.
 */
export function k3dConfigProblems(config: unknown): string[] {
  const problems: string[] = [];
  if (typeof config !== 'object' || config === null) return ['not a k3d config (expected a YAML mapping)'];
  const fields = config as Record<string, unknown>;
  const extraArgs = (fields.options as { k3s?: { extraArgs?: { arg?: unknown }[] } } | undefined)?.k3s?.extraArgs;
  const privateRegistry = (extraArgs ?? []).some(
    (entry) => typeof entry?.arg === 'string' && entry.arg.startsWith('--private-registry'),
  );
  if (fields.registries !== undefined && fields.registries !== null && privateRegistry) {
    problems.push(
      'it has k3d "registries:" settings and --private-registry: k3s reads only --private-registry, so k3d\'s registries (create, use, config) are silently ignored; remove them, or add their mirrors to the material\'s registries.yaml',
    );
  }
  if (typeof fields.image === 'string') {
    const version = k3sVersionOfImage(fields.image);
    const problem = version === undefined ? undefined : k3sVersionProblem(version);
    if (problem !== undefined) problems.push(`its image ${fields.image}: ${problem}: use ${DEFAULT_K3S_IMAGE}`);
  }
  const volumes = Array.isArray(fields.volumes) ? (fields.volumes as { volume?: unknown }[]) : [];
  for (const entry of volumes) {
    if (typeof entry?.volume !== 'string') continue;
    const [source, target, mode] = entry.volume.split(':');
    if (target !== NODE_MATERIAL_MOUNT_PATH) continue;
    if (path.basename(source) !== NODE_DIR) {
      problems.push(
        `its volume ${entry.volume} mounts ${source} on every node: if that is the material directory, its keys, htpasswd and password reach every node; mount ${path.join(source, NODE_DIR)} instead (private-registry k3d-config)`,
      );
    } else if (mode !== 'ro') {
      problems.push(`its volume ${entry.volume} is writable on every node: add ":ro" (private-registry k3d-config)`);
    }
  }
  return problems;
}

/** js-yaml, loaded when YAML is read or written: commands that only import this module's helpers skip it. */
function yaml(): typeof Yaml {
  return require('js-yaml') as typeof Yaml;
}
