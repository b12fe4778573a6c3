import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Turns the synthesized registry Deployment into what `docker-registry serve` needs on this machine,
 * the way the kubelet would: every Secret volume is written out to a directory standing in for its
 * mount path, `secretKeyRef` variables are read from the synthesized Secrets, and container paths in
 * the environment are mapped onto those directories. Only the listen addresses are changed: the metrics
 * listener, 0.0.0.0 in the pod, moves to `debugAddress`, or is left off (here it would leave loopback and
 * two registries would fight over its port).
 */
export function registryEnvFromManifests(
  manifests: any[],
  rootDir: string,
  listenAddress: string,
  debugAddress?: string,
): Record<string, string> {
  // The registry's own Deployment: a pull-through cache's is labelled component "cache".
  const deployment = manifests.find(
    (object) => object.kind === 'Deployment' && object.metadata.labels?.['app.kubernetes.io/component'] !== 'cache',
  );
  if (deployment === undefined) throw new Error('no registry Deployment in the synthesized manifests');
  return podEnv(manifests, deployment, rootDir, listenAddress, debugAddress);
}

/**
 * The same for the Deployment of a pull-through cache (`name`, e.g. container-registry-cache-docker-io):
 * its proxy settings, and its upstream credentials read from its Secret through secretKeyRef, as the kubelet would.
 */
export function cacheEnvFromManifests(
  manifests: any[],
  name: string,
  rootDir: string,
  listenAddress: string,
): Record<string, string> {
  const deployment = manifests.find((object) => object.kind === 'Deployment' && object.metadata.name === name);
  if (deployment === undefined) throw new Error(`no Deployment ${name} in the synthesized manifests`);
  return podEnv(manifests, deployment, rootDir, listenAddress);
}

function podEnv(
  manifests: any[],
  deployment: any,
  rootDir: string,
  listenAddress: string,
  debugAddress?: string,
): Record<string, string> {
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  const secret = (name: string) => {
    const found = manifests.find((object) => object.kind === 'Secret' && object.metadata.name === name);
    if (found === undefined) throw new Error(`the Deployment refers to Secret ${name}, which was not synthesized`);
    return found;
  };

  const mountDirs = new Map<string, string>();
  for (const mount of container.volumeMounts) {
    const dir = join(rootDir, mount.name);
    mkdirSync(dir, { recursive: true });
    mountDirs.set(mount.mountPath, dir);
    const volume = pod.volumes.find((candidate: any) => candidate.name === mount.name);
    if (volume?.secret !== undefined) {
      for (const [key, value] of Object.entries<string>(secret(volume.secret.secretName).data)) {
        writeFileSync(join(dir, key), Buffer.from(value, 'base64'), { mode: 0o600 });
      }
    }
  }
  const mapPath = (value: string) => {
    for (const [mountPath, dir] of mountDirs) {
      if (value === mountPath || value.startsWith(`${mountPath}/`)) return dir + value.slice(mountPath.length);
    }
    return value;
  };

  const env: Record<string, string> = {};
  for (const variable of container.env) {
    if (variable.valueFrom?.secretKeyRef !== undefined) {
      const { name, key } = variable.valueFrom.secretKeyRef;
      env[variable.name] = Buffer.from(secret(name).data[key], 'base64').toString('utf8');
    } else {
      env[variable.name] = mapPath(variable.value);
    }
  }
  env.REGISTRY_HTTP_ADDR = listenAddress;
  if (debugAddress === undefined) delete env.REGISTRY_HTTP_DEBUG_ADDR;
  else env.REGISTRY_HTTP_DEBUG_ADDR = debugAddress;
  return env;
}
