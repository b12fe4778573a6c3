import * as path from 'node:path';
import type * as Yaml from 'js-yaml';
import { DEFAULT_NODE_PORT, NODE_MATERIAL_MOUNT_PATH } from './defaults';
import { MATERIAL_FILES } from './material';
import { ValidationError, assertDnsLabel, assertIntegerInRange, assertNodePort } from './validate';

/** k3d's own default cluster name, so `k3d cluster list/delete` work without naming it. */
export const DEFAULT_K3D_CLUSTER_NAME = 'k3s-default';
/** k3d rejects longer cluster names ("Cluster name must be <= 32 characters"). */
const MAX_K3D_CLUSTER_NAME_LENGTH = 32;
/** Where k3s on every node finds registries.yaml, given the volume `<material dir>:/registry`. */
export const NODE_REGISTRIES_FILE = `${NODE_MATERIAL_MOUNT_PATH}/${MATERIAL_FILES.registriesYaml}`;

/** Options of k3dClusterConfig. */
export interface K3dClusterOptions {
  /** The material directory, absolute; mounted at /registry on every node. */
  readonly materialDir: string;
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
  readonly agents: number;
  readonly volumes: K3dNodeFiltered<'volume'>[];
  readonly ports: K3dNodeFiltered<'port'>[];
  readonly options: { readonly k3s: { readonly extraArgs: K3dNodeFiltered<'arg'>[] } };
}

/** A k3d config value applied to the nodes its `nodeFilters` select. */
export type K3dNodeFiltered<K extends string> = { readonly [key in K]: string } & { readonly nodeFilters: string[] };

/**
 * A cluster whose nodes all trust the registry: the material directory on every node at /registry, k3s
 * told to read /registry/certs/registries.yaml, and the NodePort on the load balancer bound to
 * 127.0.0.1 (a port mapping without a host IP would put the registry on the LAN).
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
    volumes: [{ volume: `${options.materialDir}:${NODE_MATERIAL_MOUNT_PATH}`, nodeFilters }],
    ports: [{ port: `127.0.0.1:${nodePort}:${nodePort}`, nodeFilters: ['loadbalancer'] }],
    options: { k3s: { extraArgs: [{ arg: `--private-registry=${NODE_REGISTRIES_FILE}`, nodeFilters }] } },
  };
}

/** The config as a k3d YAML file. */
export function renderK3dConfig(config: K3dSimpleConfig): string {
  const header = [
    `# k3d cluster with the private registry: k3d cluster create --config <this file>`,
    `# Every node mounts the material at ${NODE_MATERIAL_MOUNT_PATH} and k3s reads ${NODE_REGISTRIES_FILE} at start.`,
    `# The registry port is bound to 127.0.0.1 only, so the registry is not reachable from the LAN.`,
  ];
  return `${header.join('\n')}\n${yaml().dump(config, { lineWidth: -1, noRefs: true })}`;
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
    ...config.volumes.flatMap((entry) => filtered('--volume', entry.volume, entry.nodeFilters)),
    ...config.ports.flatMap((entry) => filtered('--port', entry.port, entry.nodeFilters)),
    ...config.options.k3s.extraArgs.flatMap((entry) => filtered('--k3s-arg', entry.arg, entry.nodeFilters)),
  ];
}

/** `args` as one POSIX shell command line. */
export function shellCommandLine(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}

/** One shell word: plain characters as they are, anything else single-quoted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_/.,:=+%@-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** js-yaml, loaded when YAML is read or written: commands that only import this module's helpers skip it. */
function yaml(): typeof Yaml {
  return require('js-yaml') as typeof Yaml;
}
