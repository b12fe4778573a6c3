import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { RegistryChart } from '../lib';
import { findObject, fixtureMaterial } from './support/fixture-material';

const material = fixtureMaterial();

function synth(props: Partial<ConstructorParameters<typeof RegistryChart>[2]> = {}) {
  const chart = new RegistryChart(Testing.app(), 'registry', { material, ...props });
  return { chart, manifests: Testing.synth(chart) };
}

describe('RegistryChart', () => {
  it('defaults', () => {
    expect(synth().manifests).toMatchSnapshot();
  });

  it('custom', () => {
    const { manifests } = synth({
      namespace: 'registry',
      serviceName: 'images',
      hostname: 'images.local',
      port: 5443,
      nodePort: 30500,
      image: 'registry:3.0.0',
      storageSize: '50Gi',
      storageClassName: 'fast',
      hostsUpdateIntervalSeconds: 10,
      localRegistryHosting: false,
      labels: { team: 'platform' },
    });
    expect(manifests).toMatchSnapshot();
  });

  it('puts the Namespace first, cluster-scoped, so `kubectl apply -f dist` works on an empty cluster', () => {
    const { manifests } = synth();
    expect(manifests[0]).toEqual({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'container-registry' } });
  });

  it('places every namespaced object in the chart namespace except the KEP-1755 ConfigMap', () => {
    const { manifests } = synth({ namespace: 'elsewhere' });
    const placement = manifests.slice(1).map((object) => `${object.kind}/${object.metadata.name} ${object.metadata.namespace}`);
    expect(placement).toEqual([
      'Secret/container-registry-htpasswd elsewhere',
      'Secret/container-registry-tls elsewhere',
      'Secret/container-registry-http elsewhere',
      'PersistentVolumeClaim/container-registry elsewhere',
      'Deployment/container-registry elsewhere',
      'Service/container-registry elsewhere',
      'ConfigMap/container-registry-node-hosts elsewhere',
      'DaemonSet/container-registry-node-hosts elsewhere',
      'ConfigMap/local-registry-hosting kube-public',
    ]);
    // The hosts DaemonSet follows the Service into the namespace.
    const env = findObject(manifests, 'DaemonSet').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'SERVICE_DNS_NAME', value: 'container-registry.elsewhere.svc.cluster.local' });
  });

  it('publishes KEP-1755 local-registry-hosting with the push, runtime and cluster names', () => {
    const configMap = findObject(synth().manifests, 'ConfigMap', 'local-registry-hosting');
    expect(configMap.data['localRegistryHosting.v1']).toBe(
      [
        'host: localhost:31113',
        'hostFromContainerRuntime: container-registry.local:5000',
        'hostFromClusterNetwork: container-registry.container-registry.svc.cluster.local:5000',
        'help: https://www.npmjs.com/package/cdk8s-private-registry',
        '',
      ].join('\n'),
    );
  });

  it('is byte-identical for the same material', () => {
    expect(JSON.stringify(synth().manifests)).toBe(JSON.stringify(synth().manifests));
  });

  it('refuses a namespace that is not a DNS label', () => {
    expect(() => synth({ namespace: 'Container_Registry' })).toThrow(
      `'namespace' must be a DNS label (lowercase letters, digits and '-', starting and ending with a letter or digit, at most 63 characters), got "Container_Registry": pick a name like "container-registry"`,
    );
  });

  it('refuses node credentials the htpasswd does not accept', () => {
    expect(() => synth({ material: { ...material, nodeCredentials: { username: 'registry', password: 'wrong' } } })).toThrow(
      `'nodeCredentials' for user "registry" do not match the htpasswd: the nodes could not pull; give that user's password or add the user`,
    );
  });
});
