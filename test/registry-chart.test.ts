import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { RegistryChart, createCertificateAuthority, createServerCertificate, registrySubjectAltNames } from '../lib';
import { podSecurityLabels } from '../lib/pod-security';
import { CUSTOM_MATERIAL_OPTIONS } from './fixtures/make-material-fixture';
import { customFixtureMaterial, findObject, fixtureMaterial } from './support/fixture-material';

const material = fixtureMaterial();
const customMaterial = customFixtureMaterial();

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
      material: customMaterial,
      namespace: CUSTOM_MATERIAL_OPTIONS.namespace,
      serviceName: CUSTOM_MATERIAL_OPTIONS.serviceName,
      image: 'registry:3.0.0',
      storageSize: '50Gi',
      storageClassName: 'fast',
      hostsUpdateIntervalSeconds: 10,
      localRegistryHosting: false,
      labels: { team: 'platform' },
    });
    expect(manifests).toMatchSnapshot();
  });

  it('puts the Namespaces first, cluster-scoped, so `kubectl apply -f dist` works on an empty cluster', () => {
    const { manifests } = synth();
    expect(manifests[0]).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'container-registry', labels: podSecurityLabels('restricted') },
    });
    expect(manifests[1]).toEqual({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: 'container-registry-node-hosts', labels: podSecurityLabels('privileged') },
    });
  });

  it('places every namespaced object in the chart namespace except the hosts DaemonSet and KEP-1755 ConfigMap', () => {
    const { manifests } = synth({ material: customMaterial, namespace: 'registry', serviceName: 'images' });
    const placement = manifests
      .slice(2)
      .map((object) => `${object.kind}/${object.metadata.name} ${object.metadata.namespace}`);
    expect(placement).toEqual([
      'Secret/images-htpasswd registry',
      'Secret/images-tls registry',
      'Secret/images-http registry',
      'PersistentVolumeClaim/images registry',
      'Deployment/images registry',
      'Service/images registry',
      'ConfigMap/images-node-hosts registry-node-hosts',
      'DaemonSet/images-node-hosts registry-node-hosts',
      'ServiceAccount/images-gc registry',
      'Role/images-gc registry',
      'RoleBinding/images-gc registry',
      'CronJob/images-gc registry',
      'ConfigMap/local-registry-hosting kube-public',
    ]);
    // The hosts DaemonSet, in its own namespace, finds the Service by its DNS name.
    const env = findObject(manifests, 'DaemonSet').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'SERVICE_DNS_NAME', value: 'images.registry.svc.cluster.local' });
  });

  it('adds the garbage collection CronJob, suspended unless scheduled; none for a ReadWriteMany registry', () => {
    expect(findObject(synth().manifests, 'CronJob').spec.suspend).toBe(true);
    const scheduled = synth({ garbageCollectionSchedule: '0 3 * * 0' });
    expect(findObject(scheduled.manifests, 'CronJob').spec).toMatchObject({ schedule: '0 3 * * 0', suspend: false });
    const shared = synth({ storageAccessMode: 'ReadWriteMany', replicas: 2 });
    expect(shared.chart.garbageCollection).toBeUndefined();
    expect(shared.manifests.filter((object) => object.kind === 'CronJob')).toEqual([]);
    expect(() => synth({ storageAccessMode: 'ReadWriteMany', garbageCollectionSchedule: '@weekly' })).toThrow(
      "garbage collection needs the registry's Recreate strategy",
    );
  });

  it("follows the material's hostname and ports, so manifests and registries.yaml agree", () => {
    const { manifests } = synth({ material: customMaterial, namespace: 'registry', serviceName: 'images' });
    expect(findObject(manifests, 'Service').spec.ports[0]).toMatchObject({ port: 5443, nodePort: 30500 });
    const env = findObject(manifests, 'DaemonSet').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'REGISTRY_HOSTNAME', value: 'images.local' });
  });

  it('refuses props that disagree with the material', () => {
    expect(() => synth({ nodePort: 30500 })).toThrow(
      `'nodePort' is 30500 but the material's registries.yaml says 31113: the nodes would not find the registry; leave 'nodePort' out to follow the material, or make new material with that value`,
    );
    expect(() => synth({ hostname: 'other.local' })).toThrow(
      `'hostname' is "other.local" but the material's registries.yaml says "container-registry.local"`,
    );
  });

  it('refuses a hostname its name-constrained CA may not vouch for, with the fix: a new CA', () => {
    // registries.yaml now names images.local (as after a hand edit); the CA was made for container-registry.local.
    const registries = JSON.parse(
      JSON.stringify(material.registries).replaceAll('container-registry.local', 'images.local'),
    );
    expect(() => synth({ material: { ...material, registries } })).toThrow(
      "'material.tls' does not name images.local: clients using those names would fail TLS; 'material.ca' may not vouch for them (its name constraints): a new hostname, Service or namespace needs a new CA: private-registry certs renew --rotate-ca, then give the nodes and desktops the new ca.crt",
    );
  });

  it('refuses another namespace with the fix for it: a new CA and certificate for that namespace', () => {
    expect(() => synth({ namespace: 'elsewhere' })).toThrow(
      `'material.tls' does not name container-registry.elsewhere, container-registry.elsewhere.svc, container-registry.elsewhere.svc.cluster.local: clients using those names would fail TLS; 'material.ca' may not vouch for them (its name constraints): a new hostname, Service or namespace needs a new CA: private-registry certs renew --rotate-ca --namespace elsewhere, then give the nodes and desktops the new ca.crt`,
    );
  });

  it('refuses a certificate that does not name the Service it would serve (a CA made before name constraints)', () => {
    const ca = createCertificateAuthority();
    const tls = createServerCertificate({
      ca,
      subjectAltNames: registrySubjectAltNames('container-registry.local', 'container-registry', 'container-registry'),
    });
    expect(() => synth({ namespace: 'elsewhere', material: { ...material, ca, tls } })).toThrow(
      `'material.tls' does not name container-registry.elsewhere, container-registry.elsewhere.svc, container-registry.elsewhere.svc.cluster.local: clients using those names would fail TLS; renew the certificate for this hostname, Service and namespace (private-registry certs renew --namespace elsewhere)`,
    );
  });

  it("refuses material its pieces refuse, with their message: a key that is not the certificate's", () => {
    const tls = { certificatePem: material.tls.certificatePem, privateKeyPem: customMaterial.tls.privateKeyPem };
    expect(() => synth({ material: { ...material, tls } })).toThrow(
      `'material.tls.privateKeyPem' does not belong to 'material.tls' (CN=container-registry.local): the registry could not serve TLS with them; give that certificate's key, or issue a new certificate and key (private-registry certs renew)`,
    );
    expect(() => synth({ material: { ...material, ca: customMaterial.ca } })).toThrow(
      `'material.tls' (CN=container-registry.local) is not signed by 'material.ca'`,
    );
  });

  it('refuses a Service name the API server would refuse, naming the prop the user gave', () => {
    expect(() => synth({ serviceName: '1registry' })).toThrow(
      `'serviceName' must be a Service name (lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 52 characters), got "1registry": pick a name like "container-registry"`,
    );
    expect(() => synth({ hostsUpdateIntervalSeconds: 0 })).toThrow(
      "'hostsUpdateIntervalSeconds' must be an integer in 1-3600, got 0: pick how many seconds to wait between lookups",
    );
    expect(() => synth({ hostname: 'localhost', material: { ...material, registries: undefined } })).toThrow(
      `'hostname' must be a name of the registry's own, not an IP address or localhost, got "localhost"`,
    );
  });

  it('publishes KEP-1755 local-registry-hosting with the push, runtime and cluster names', () => {
    const configMap = findObject(synth().manifests, 'ConfigMap', 'local-registry-hosting');
    expect(configMap.data['localRegistryHosting.v1']).toBe(
      [
        'host: localhost:31113',
        'hostFromContainerRuntime: container-registry.local:5000',
        'hostFromClusterNetwork: container-registry.container-registry.svc.cluster.local:5000',
        'help: https://github.com/kubernetes/enhancements/tree/master/keps/sig-cluster-lifecycle/generic/1755-communicating-a-local-registry',
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

  it('refuses node credentials the htpasswd or registries.yaml does not agree with', () => {
    const nodeCredentials = { username: 'registry', password: 'wrong' };
    expect(() => synth({ material: { ...material, nodeCredentials } })).toThrow(
      `'material.nodeCredentials' (user "registry") are not what the material's registries.yaml gives the nodes (user "registry", another password)`,
    );
    expect(() => synth({ material: { ...material, nodeCredentials, registries: undefined } })).toThrow(
      `'material.nodeCredentials' for user "registry" do not match the htpasswd: the nodes could not pull; give that user's password or add the user`,
    );
  });
});
