import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NodeProcess, NodeSandbox } from './node-sandbox';
import { cacheEnvFromManifests } from './registry-from-manifests';

export interface CacheInNodeOptions {
  readonly node: NodeSandbox;
  /** The synthesized objects holding the cache's Deployment and Secrets. */
  readonly manifests: any[];
  /** The cache Deployment's name, e.g. container-registry-cache-docker-io. */
  readonly deploymentName: string;
  /** Its Secret volumes, storage and config go here. */
  readonly workDir: string;
  /** Where it listens inside the node: the Service IP and the cache's port. */
  readonly listen: { readonly host: string; readonly port: number };
  /** The upstream's test CA: in a cluster the upstream's certificate is signed by a public CA instead. */
  readonly upstreamCaFile: string;
}

/**
 * Runs the real docker-registry as the synthesized cache Deployment's container would run, inside the node
 * sandbox: its env and Secrets as the kubelet gives them, only the listen address and the storage's place
 * on this machine changed. The one addition is SSL_CERT_FILE, read by Go's crypto/x509 on Linux: the
 * upstream here has a test CA instead of a public one, and only this process trusts it.
 */
export async function startCacheInNode(
  options: CacheInNodeOptions,
): Promise<{ process: NodeProcess; storage: string }> {
  const { workDir, listen } = options;
  mkdirSync(workDir, { recursive: true });
  const env = cacheEnvFromManifests(
    options.manifests,
    options.deploymentName,
    join(workDir, 'pod'),
    `${listen.host}:${listen.port}`,
  );
  env.SSL_CERT_FILE = options.upstreamCaFile;
  writeFileSync(join(workDir, 'registry.yml'), 'version: 0.1\n');
  const process = await options.node.spawnInNode('docker-registry', ['serve', join(workDir, 'registry.yml')], {
    env,
    readyListen: listen,
  });
  return { process, storage: env.REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY };
}
