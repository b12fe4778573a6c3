import { createHash, createHmac } from 'node:crypto';
import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { RegistryAuth, RegistryCache, type RegistryCacheOptions, RegistryChart, RegistryServer } from '../lib';
import { assertCacheTtl, resolveCacheUpstream } from '../lib/cache-upstreams';
import { deriveHttpSecret } from '../lib/registry-server';
import { podSecurityViolations, podSpecOf } from './support/pod-security';
import { findObject, fixtureMaterial, fixtureMaterialWithCaches } from './support/fixture-material';

const material = fixtureMaterial();

const materialWithCaches = fixtureMaterialWithCaches;

function synthChart(caches: readonly RegistryCacheOptions[], props: Record<string, unknown> = {}) {
  const chart = new RegistryChart(Testing.app(), 'registry', { material: materialWithCaches(caches), ...props });
  return { chart, manifests: Testing.synth(chart) };
}

function synthPieces(options: RegistryCacheOptions) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'container-registry', disableResourceNameHashes: true });
  const auth = new RegistryAuth(chart, 'Auth', { material });
  const registry = new RegistryServer(chart, 'Registry', { material, auth });
  const cache = new RegistryCache(chart, 'Cache', { registry, auth, ...options });
  return { cache, manifests: Testing.synth(chart) };
}

const envOf = (deployment: any): Record<string, any> =>
  Object.fromEntries(
    deployment.spec.template.spec.containers[0].env.map((entry: any) => [entry.name, entry.value ?? entry.valueFrom]),
  );

describe('RegistryCache', () => {
  it('defaults', () => {
    expect(synthPieces({ upstream: 'docker.io' }).manifests).toMatchSnapshot();
  });

  it('custom', () => {
    const { manifests } = synthPieces({
      upstream: 'https://registry.example.com:8443',
      port: 5200,
      ttl: '24h',
      credentials: { username: 'robot', password: 'upstream-token' },
      storageSize: '50Gi',
      storageClassName: 'fast',
      image: 'registry:3.0.0',
    });
    expect(manifests).toMatchSnapshot();
  });

  it('runs a registry in proxy mode for the upstream, with the TTL, deletion on and a volume of its own', () => {
    const { manifests, cache } = synthPieces({ upstream: 'docker.io' });
    expect(cache.name).toBe('container-registry-cache-docker-io');
    expect(cache.endpoint).toBe('container-registry.local:5100');
    const deployment = findObject(manifests, 'Deployment', 'container-registry-cache-docker-io');
    const env = envOf(deployment);
    expect(env.REGISTRY_PROXY_REMOTEURL).toBe('https://registry-1.docker.io');
    expect(env.REGISTRY_PROXY_TTL).toBe('168h');
    expect(env.REGISTRY_STORAGE_DELETE_ENABLED).toBe('true');
    expect(env.REGISTRY_HTTP_ADDR).toBe('0.0.0.0:5100');
    expect(env.REGISTRY_AUTH).toBe('htpasswd');
    expect(env.REGISTRY_HTTP_SECRET).toEqual({ secretKeyRef: { name: 'container-registry-http', key: 'http-secret' } });
    // Anonymous: no credentials in the env at all.
    expect(env.REGISTRY_PROXY_USERNAME).toBeUndefined();
    expect(env.REGISTRY_PROXY_PASSWORD).toBeUndefined();
    expect(deployment.spec.template.spec.containers[0].image).toBe('registry:3.1.1');
    const pvc = findObject(manifests, 'PersistentVolumeClaim', 'container-registry-cache-docker-io');
    expect(pvc.spec.resources.requests.storage).toBe('10Gi');
    expect(deployment.spec.template.spec.volumes).toContainEqual({
      name: 'storage',
      persistentVolumeClaim: { claimName: 'container-registry-cache-docker-io' },
    });
    // The registry's own certificate and users.
    expect(deployment.spec.template.spec.volumes).toContainEqual({
      name: 'tls',
      secret: { secretName: 'container-registry-tls', defaultMode: 0o440 },
    });
    expect(deployment.spec.template.spec.volumes).toContainEqual({
      name: 'auth',
      secret: { secretName: 'container-registry-htpasswd', defaultMode: 0o440 },
    });
  });

  it('gives the upstream credentials only through secretKeyRef, from a Secret of its own', () => {
    const { manifests } = synthPieces({
      upstream: 'ghcr.io',
      credentials: { username: 'octocat', password: 'ghp_secret-token' },
    });
    const deployment = findObject(manifests, 'Deployment', 'container-registry-cache-ghcr-io');
    const env = envOf(deployment);
    expect(env.REGISTRY_PROXY_USERNAME).toEqual({
      secretKeyRef: { name: 'container-registry-cache-ghcr-io-upstream', key: 'username' },
    });
    expect(env.REGISTRY_PROXY_PASSWORD).toEqual({
      secretKeyRef: { name: 'container-registry-cache-ghcr-io-upstream', key: 'password' },
    });
    const secret = findObject(manifests, 'Secret', 'container-registry-cache-ghcr-io-upstream');
    expect(Buffer.from(secret.data.password, 'base64').toString()).toBe('ghp_secret-token');
    // The token is nowhere else in the manifests, not even base64-encoded.
    const others = manifests.filter((object: any) => object !== secret);
    const text = JSON.stringify(others);
    expect(text).not.toContain('ghp_secret-token');
    expect(text).not.toContain(Buffer.from('ghp_secret-token').toString('base64'));
  });

  it('rolls its pod when the upstream settings or credentials change, without revealing them', () => {
    const annotation = (options: RegistryCacheOptions) =>
      findObject(synthPieces(options).manifests, 'Deployment', 'container-registry-cache-docker-io').spec.template
        .metadata.annotations['cdk8s-private-registry/upstream-sha256'];
    const anonymous = annotation({ upstream: 'docker.io' });
    const withToken = annotation({ upstream: 'docker.io', credentials: { username: 'u', password: 'p1' } });
    expect(withToken).not.toBe(anonymous);
    expect(annotation({ upstream: 'docker.io', credentials: { username: 'u', password: 'p2' } })).not.toBe(withToken);
    expect(annotation({ upstream: 'docker.io', ttl: '1h' })).not.toBe(anonymous);
    expect(anonymous).toMatch(/^[0-9a-f]{64}$/);
    // Same material, same bytes.
    expect(annotation({ upstream: 'docker.io', credentials: { username: 'u', password: 'p1' } })).toBe(withToken);
  });

  it('keys the rollout annotation with the HTTP secret: a reader of Deployments cannot test password guesses', () => {
    const credentials = { username: 'u', password: 'p1' };
    const deployment = findObject(
      synthPieces({ upstream: 'docker.io', credentials }).manifests,
      'Deployment',
      'container-registry-cache-docker-io',
    );
    const annotation = deployment.spec.template.metadata.annotations['cdk8s-private-registry/upstream-sha256'];
    const settings = JSON.stringify({ remoteUrl: 'https://registry-1.docker.io', ttl: '168h', credentials });
    expect(annotation).not.toBe(createHash('sha256').update(settings).digest('hex'));
    const httpSecret = deriveHttpSecret(material.tls.privateKeyPem);
    expect(annotation).toBe(createHmac('sha256', httpSecret).update(settings).digest('hex'));
  });

  it('declares only its own named port, and the registry Service publishes it targeting that name', () => {
    const { manifests } = synthChart([{ upstream: 'docker.io' }, { upstream: 'ghcr.io' }]);
    const service = findObject(manifests, 'Service', 'container-registry');
    expect(service.spec.selector).toEqual({ 'app.kubernetes.io/name': 'container-registry' });
    expect(service.spec.ports).toEqual([
      { name: 'https', port: 5000, targetPort: 'https', nodePort: 31113 },
      { name: 'cache-5100', port: 5100, targetPort: 'cache-5100' },
      { name: 'cache-5101', port: 5101, targetPort: 'cache-5101' },
    ]);
    const deployments = manifests.filter((object: any) => object.kind === 'Deployment');
    const portNames = (deployment: any) =>
      deployment.spec.template.spec.containers.flatMap((container: any) => container.ports.map((p: any) => p.name));
    const byName = Object.fromEntries(deployments.map((deployment: any) => [deployment.metadata.name, deployment]));
    expect(portNames(byName['container-registry'])).toEqual(['https', 'metrics']);
    expect(portNames(byName['container-registry-cache-docker-io'])).toEqual(['cache-5100', 'metrics']);
    expect(portNames(byName['container-registry-cache-ghcr-io'])).toEqual(['cache-5101', 'metrics']);
    // Every Service port's name is declared by exactly the pods meant to serve it (podutil.FindPort).
    for (const port of service.spec.ports) {
      const serving = deployments.filter((deployment: any) => portNames(deployment).includes(port.targetPort));
      expect(serving).toHaveLength(1);
    }
  });

  it('keeps cache pods out of the registry Deployment selector, but behind the Service selector', () => {
    const { manifests } = synthChart([{ upstream: 'docker.io' }]);
    const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
      Object.entries(selector).every(([key, value]) => labels[key] === value);
    const registry = findObject(manifests, 'Deployment', 'container-registry');
    const cache = findObject(manifests, 'Deployment', 'container-registry-cache-docker-io');
    const service = findObject(manifests, 'Service', 'container-registry');
    const cacheLabels = cache.spec.template.metadata.labels;
    expect(matches(registry.spec.selector.matchLabels, cacheLabels)).toBe(false);
    expect(matches(cache.spec.selector.matchLabels, registry.spec.template.metadata.labels)).toBe(false);
    expect(matches(service.spec.selector, cacheLabels)).toBe(true);
    expect(matches(service.spec.selector, registry.spec.template.metadata.labels)).toBe(true);
    expect(cache.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'container-registry',
      'app.kubernetes.io/component': 'cache',
      'cdk8s-private-registry/upstream': 'docker-io',
    });
  });

  it('meets Pod Security "restricted" exactly like the registry, with the same hardening', () => {
    const { manifests } = synthChart([{ upstream: 'docker.io', credentials: { username: 'u', password: 'p' } }]);
    const cache = findObject(manifests, 'Deployment', 'container-registry-cache-docker-io');
    const registry = findObject(manifests, 'Deployment', 'container-registry');
    expect(podSecurityViolations(podSpecOf(cache) as any, 'restricted')).toEqual([]);
    const spec = cache.spec.template.spec;
    expect(spec.securityContext).toEqual(registry.spec.template.spec.securityContext);
    expect(spec.containers[0].securityContext).toEqual(registry.spec.template.spec.containers[0].securityContext);
    expect(spec.automountServiceAccountToken).toBe(false);
  });

  it('the chart makes one cache per upstream, and the KEP-1755 ConfigMap lists them under a key of its own', () => {
    const { chart, manifests } = synthChart([{ upstream: 'docker.io' }, { upstream: 'ghcr.io' }]);
    expect(chart.caches.map((cache) => cache.upstream)).toEqual(['docker.io', 'ghcr.io']);
    const configMap = findObject(manifests, 'ConfigMap', 'local-registry-hosting');
    expect(configMap.data['localRegistryHosting.v1']).not.toContain('5100');
    expect(configMap.data['pullThroughCaches.v1']).toBe(
      [
        '- upstream: docker.io',
        '  remoteUrl: https://registry-1.docker.io',
        '  hostFromContainerRuntime: container-registry.local:5100',
        '  hostFromClusterNetwork: container-registry.container-registry.svc.cluster.local:5100',
        '- upstream: ghcr.io',
        '  remoteUrl: https://ghcr.io',
        '  hostFromContainerRuntime: container-registry.local:5101',
        '  hostFromClusterNetwork: container-registry.container-registry.svc.cluster.local:5101',
        '',
      ].join('\n'),
    );
  });

  it('no caches by default: the Service has the registry port only and the ConfigMap no caches key', () => {
    const chart = new RegistryChart(Testing.app(), 'registry', { material });
    const manifests = Testing.synth(chart);
    expect(chart.caches).toEqual([]);
    expect(findObject(manifests, 'Service').spec.ports).toHaveLength(1);
    expect(findObject(manifests, 'ConfigMap', 'local-registry-hosting').data['pullThroughCaches.v1']).toBeUndefined();
  });

  it('refuses bad upstreams, duplicates and port clashes, naming the entry and the fix', () => {
    const chart = (caches: readonly RegistryCacheOptions[], withMirrors = caches) =>
      new RegistryChart(Testing.app(), 'registry', {
        material: { ...materialWithCaches(withMirrors), caches: undefined },
        caches,
      });
    expect(() => chart([{ upstream: 'dockerhub' }], [])).toThrow(
      `'caches[0].upstream' must be one of docker.io, ghcr.io, quay.io, registry.k8s.io or an https:// URL, got "dockerhub": write it as https://dockerhub`,
    );
    expect(() => chart([{ upstream: 'http://registry.example.com' }], [])).toThrow(
      `'caches[0].upstream' must use https://, got "http://registry.example.com"`,
    );
    expect(() => chart([{ upstream: 'docker.io' }, { upstream: 'docker.io', port: 5105 }], [])).toThrow(
      `'caches[1]' is a second cache for "docker.io" (also 'caches[0]'): one upstream has one cache`,
    );
    expect(() => chart([{ upstream: 'docker.io', port: 5000 }], [])).toThrow(
      `'caches[0].port' is 5000, which is the registry's port: pick another port for the docker.io cache, e.g. 5100`,
    );
    expect(() => chart([{ upstream: 'docker.io' }, { upstream: 'ghcr.io', port: 5100 }], [])).toThrow(
      `'caches[1].port' is 5100, which the docker.io cache already uses`,
    );
    expect(() => chart([{ upstream: 'https://r.example.com' }], [])).toThrow(
      `'caches[0].port' is needed for the cache of "r.example.com": only docker.io, ghcr.io, quay.io, registry.k8s.io have a default; give a free port, e.g. port: 5104`,
    );
    expect(() => chart([{ upstream: 'docker.io', ttl: 'a week' }])).toThrow(
      `'ttl' must be a duration like "168h", "24h" or "90m", got "a week"`,
    );
  });

  it('refuses caches that disagree with the material registries.yaml, both ways', () => {
    const material = materialWithCaches([{ upstream: 'docker.io' }]);
    expect(
      () => new RegistryChart(Testing.app(), 'registry', { material: { ...material, caches: undefined } }),
    ).toThrow(
      `the material's registries.yaml mirrors docker.io to https://container-registry.local:5100, but 'caches' has no cache for it`,
    );
    expect(
      () =>
        new RegistryChart(Testing.app(), 'registry', {
          material,
          caches: [{ upstream: 'docker.io' }, { upstream: 'quay.io' }],
        }),
    ).toThrow(
      `'caches[1]' (quay.io on port 5102) is not a mirror in the material's registries.yaml: the nodes would never pull through it; add it to the material (private-registry cache add quay.io)`,
    );
    expect(
      () => new RegistryChart(Testing.app(), 'registry', { material, caches: [{ upstream: 'docker.io', port: 5110 }] }),
    ).toThrow(
      `'caches[0].port' is 5110 but the material's registries.yaml mirrors docker.io to https://container-registry.local:5100`,
    );
  });

  it('resolves upstreams: the known four, a URL by its host, another address for a known name', () => {
    expect(synthPieces({ upstream: 'quay.io' }).cache.remoteUrl).toBe('https://quay.io');
    expect(synthPieces({ upstream: 'registry.k8s.io' }).cache.port).toBe(5103);
    const url = synthPieces({ upstream: 'https://Registry.Example.com:8443/', port: 5300 }).cache;
    expect([url.upstream, url.remoteUrl, url.name]).toEqual([
      'registry.example.com:8443',
      'https://registry.example.com:8443',
      'container-registry-cache-registry-example-com-8443',
    ]);
    const mirrored = synthPieces({ upstream: 'docker.io', remoteUrl: 'https://mirror.gcr.io' }).cache;
    expect([mirrored.upstream, mirrored.remoteUrl, mirrored.port]).toEqual([
      'docker.io',
      'https://mirror.gcr.io',
      5100,
    ]);
    expect(() => synthPieces({ upstream: 'docker.io', remoteUrl: 'https://u:p@mirror.gcr.io' })).toThrow(
      `'remoteUrl' must not hold credentials, got "https://<credentials>@mirror.gcr.io": give the address alone, and the account with private-registry cache login (or 'credentials')`,
    );
  });

  it('used on its own with the material, checks that registries.yaml mirrors it on its port', () => {
    const chart = new Chart(Testing.app(), 'test', {
      namespace: 'container-registry',
      disableResourceNameHashes: true,
    });
    const withDockerHub = fixtureMaterialWithCaches([{ upstream: 'docker.io' }]);
    const auth = new RegistryAuth(chart, 'Auth', { material });
    const registry = new RegistryServer(chart, 'Registry', { material, auth });
    new RegistryCache(chart, 'DockerHub', { registry, auth, upstream: 'docker.io', material: withDockerHub });
    expect(
      () => new RegistryCache(chart, 'Quay', { registry, auth, upstream: 'quay.io', material: withDockerHub }),
    ).toThrow(
      "the material's registries.yaml does not mirror quay.io, but this cache serves it on container-registry.local:5102: the nodes would not pull through it; add it to the material (private-registry cache add quay.io)",
    );
  });

  it('refuses a loopback upstream: in a pod that is the pod itself', () => {
    expect(() => synthPieces({ upstream: 'https://localhost:5000', port: 5200 })).toThrow(
      `'upstream' must not be localhost or a loopback address, got "localhost:5000"`,
    );
    expect(() => synthPieces({ upstream: 'docker.io', remoteUrl: 'https://127.0.0.1:8443' })).toThrow(
      `'remoteUrl' must not be localhost or a loopback address`,
    );
  });
});

describe('cache TTL and upstream rules', () => {
  it('takes a TTL from 1s to 2562047h, summed over its segments exactly', () => {
    for (const ttl of ['1s', '1000ms', '0.5s500ms', '1h30m', '1.5h', '168h', '2562047h', '2562046h59m60s']) {
      expect(() => assertCacheTtl('ttl', ttl), ttl).not.toThrow();
    }
    for (const ttl of ['0h0m', '0m0s', '0.0h', '999ms', '999999999ns', '2562047h1ns', '9999999999h']) {
      expect(() => assertCacheTtl('ttl', ttl), ttl).toThrow(`'ttl' must be a duration like`);
    }
  });

  it('maps a known upstream given as a URL to its known remote URL', () => {
    expect(resolveCacheUpstream('https://docker.io')).toEqual({
      name: 'docker.io',
      remoteUrl: 'https://registry-1.docker.io',
    });
    expect(resolveCacheUpstream('https://DOCKER.IO/')).toEqual(resolveCacheUpstream('docker.io'));
    expect(resolveCacheUpstream('https://quay.io')).toEqual(resolveCacheUpstream('quay.io'));
  });

  it('never repeats a token of a URL in its messages', () => {
    for (const value of ['https://me:tok3n@x.example.com', 'ftp://me:tok3n@x.example.com', 'me:tok3n@x', '%:tok3n@']) {
      let message = '';
      try {
        resolveCacheUpstream('docker.io', value);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message, value).toMatch(/^'remoteUrl' must/);
      expect(message, value).not.toContain('tok3n');
    }
  });
});
