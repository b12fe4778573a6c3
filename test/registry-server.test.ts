import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { RegistryAuth, RegistryServer, type RegistryServerProps, serviceDnsName } from '../lib';
import {
  type CertificateAndKey,
  createCertificateAuthority,
  createServerCertificate,
  describeCertificate,
  registrySubjectAltNames,
} from '../lib/certificates';
import { deriveHttpSecret } from '../lib/registry-server';
import { CUSTOM_MATERIAL_OPTIONS } from './fixtures/make-material-fixture';
import { customFixtureMaterial, findObject, fixtureMaterial } from './support/fixture-material';

const material = fixtureMaterial();
const customMaterial = customFixtureMaterial();

function synth(props: Partial<RegistryServerProps> = {}, namespace = 'container-registry') {
  const chart = new Chart(Testing.app(), 'test', { namespace, disableResourceNameHashes: true });
  const auth = new RegistryAuth(chart, 'Auth', { material });
  const server = new RegistryServer(chart, 'Registry', { material, auth, ...props });
  return { server, manifests: Testing.synth(chart) };
}

/** The server certificate's names for the default Service, signed by `ca`, with the options given. */
function serverCertificate(
  ca: CertificateAndKey,
  options: { now?: Date; validityDays?: number } = {},
): CertificateAndKey {
  const subjectAltNames = registrySubjectAltNames(
    'container-registry.local',
    'container-registry',
    'container-registry',
  );
  return createServerCertificate({ ca, subjectAltNames, ...options });
}
const DAY_MS = 24 * 60 * 60 * 1000;

const decode = (value: string) => Buffer.from(value, 'base64').toString('utf8');

describe('RegistryServer', () => {
  it('defaults', () => {
    expect(synth().manifests).toMatchSnapshot();
  });

  it('custom', () => {
    const { manifests } = synth(
      {
        material: undefined,
        tls: customMaterial.tls,
        caCertificatePem: customMaterial.ca.certificatePem,
        hostname: CUSTOM_MATERIAL_OPTIONS.hostname,
        name: CUSTOM_MATERIAL_OPTIONS.serviceName,
        image: `registry:3.0.0@sha256:${'a'.repeat(64)}`,
        port: 5443,
        nodePort: 32000,
        storageSize: '1Ti',
        storageClassName: 'nfs',
        storageAccessMode: 'ReadWriteMany',
        replicas: 2,
        httpSecret: 'shared',
        deleteEnabled: false,
        metricsPort: 9090,
      },
      CUSTOM_MATERIAL_OPTIONS.namespace,
    );
    expect(manifests).toMatchSnapshot();
    expect(findObject(manifests, 'Deployment').spec.template.metadata.annotations['prometheus.io/port']).toBe('9090');
    const deployment = findObject(manifests, 'Deployment');
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxSurge: 1, maxUnavailable: 0 },
    });
    expect(findObject(manifests, 'PodDisruptionBudget').spec.minAvailable).toBe(1);
    expect(decode(findObject(manifests, 'Secret', 'images-http').data['http-secret'])).toBe('shared');
  });

  it('accepts images from a registry with a port, by tag or digest', () => {
    expect(() => synth({ image: 'localhost:5000/mirror/registry:3.1.1' })).not.toThrow();
    expect(() => synth({ image: `localhost:5000/registry@sha256:${'b'.repeat(64)}` })).not.toThrow();
  });

  it('takes the chart namespace and exposes the Service for other constructs', () => {
    const { server } = synth({ material: customMaterial, name: 'images' }, 'registry');
    expect(server.serviceNamespace).toBe('registry');
    expect(serviceDnsName(server)).toBe('images.registry.svc.cluster.local');
  });

  it('configures the pinned registry by environment: TLS, htpasswd, stable http secret, delete, storage', () => {
    const { manifests } = synth();
    const container = findObject(manifests, 'Deployment').spec.template.spec.containers[0];
    expect(container.image).toBe('registry:3.1.1');
    expect(Object.fromEntries(container.env.map((v: any) => [v.name, v.value ?? v.valueFrom]))).toEqual({
      REGISTRY_HTTP_ADDR: '0.0.0.0:5000',
      REGISTRY_HTTP_TLS_CERTIFICATE: '/certs/tls.crt',
      REGISTRY_HTTP_TLS_KEY: '/certs/tls.key',
      REGISTRY_HTTP_SECRET: { secretKeyRef: { name: 'container-registry-http', key: 'http-secret' } },
      REGISTRY_AUTH: 'htpasswd',
      REGISTRY_AUTH_HTPASSWD_REALM: 'container-registry',
      REGISTRY_AUTH_HTPASSWD_PATH: '/auth/htpasswd',
      REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: '/var/lib/registry',
      REGISTRY_STORAGE_DELETE_ENABLED: 'true',
      REGISTRY_HTTP_DEBUG_ADDR: '0.0.0.0:5001',
      REGISTRY_HTTP_DEBUG_PROMETHEUS_ENABLED: 'true',
      REGISTRY_HTTP_DEBUG_PROMETHEUS_PATH: '/metrics',
      OTEL_TRACES_EXPORTER: 'none',
    });
    expect(decode(findObject(manifests, 'Secret', 'container-registry-http').data['http-secret'])).toBe(
      deriveHttpSecret(material.tls.privateKeyPem),
    );
  });

  it('serves the material in a kubernetes.io/tls Secret', () => {
    const secret = findObject(synth().manifests, 'Secret', 'container-registry-tls');
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(decode(secret.data['tls.crt'])).toBe(material.tls.certificatePem);
    expect(decode(secret.data['tls.key'])).toBe(material.tls.privateKeyPem);
    expect(decode(secret.data['ca.crt'])).toBe(material.ca.certificatePem);
  });

  it('keeps images on a 10Gi PersistentVolumeClaim of the default class, with the Recreate strategy', () => {
    const { manifests } = synth();
    const claim = findObject(manifests, 'PersistentVolumeClaim');
    expect(claim.spec).toEqual({ accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '10Gi' } } });
    const deployment = findObject(manifests, 'Deployment');
    expect(deployment.spec.strategy).toEqual({ type: 'Recreate' });
    expect(deployment.spec.template.spec.volumes[0]).toEqual({
      name: 'storage',
      persistentVolumeClaim: { claimName: 'container-registry' },
    });
  });

  it('probes over HTTPS on the path that needs no credentials, and limits resources', () => {
    const container = findObject(synth().manifests, 'Deployment').spec.template.spec.containers[0];
    for (const probe of [container.readinessProbe, container.livenessProbe]) {
      expect(probe.httpGet).toEqual({ path: '/', port: 5000, scheme: 'HTTPS' });
    }
    expect(container.resources.limits).toEqual({ cpu: '1', memory: '512Mi' });
    expect(container.resources.requests).toEqual({ cpu: '50m', memory: '64Mi' });
  });

  it('runs hardened: non-root, read-only root, no capabilities, no escalation, RuntimeDefault seccomp', () => {
    const pod = findObject(synth().manifests, 'Deployment').spec.template.spec;
    expect(pod.securityContext).toEqual({
      runAsNonRoot: true,
      runAsUser: 1000,
      runAsGroup: 1000,
      fsGroup: 1000,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(pod.containers[0].securityContext).toEqual({
      allowPrivilegeEscalation: false,
      privileged: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod.automountServiceAccountToken).toBe(false);
  });

  it('exposes port 5000 as NodePort 31113', () => {
    const service = findObject(synth().manifests, 'Service');
    expect(service.spec.type).toBe('NodePort');
    expect(service.spec.ports).toEqual([{ name: 'https', port: 5000, targetPort: 'https', nodePort: 31113 }]);
  });

  it('selects by the shared name label and targets the named port, so the caches can share the Service', () => {
    const { manifests } = synth();
    const service = findObject(manifests, 'Service');
    const deployment = findObject(manifests, 'Deployment');
    expect(service.spec.selector).toEqual({ 'app.kubernetes.io/name': 'container-registry' });
    // The Deployment's selector is immutable on a cluster: it must stay what it always was.
    expect(deployment.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'container-registry',
      'app.kubernetes.io/component': 'registry',
    });
    expect(deployment.spec.template.metadata.labels).toMatchObject(service.spec.selector);
    const named = deployment.spec.template.spec.containers[0].ports.find((port: any) => port.name === 'https');
    expect(named.containerPort).toBe(5000);
  });

  it('addServicePort refuses a numeric targetPort and a port or name already published', () => {
    const { server } = synth();
    const { k8s } = require('cdk8s-plus-28');
    expect(() =>
      server.addServicePort({ name: 'x', port: 5100, targetPort: k8s.IntOrString.fromNumber(5100) }),
    ).toThrow("addServicePort: 'targetPort' of port 5100 must be a container port name, got 5100");
    expect(() =>
      server.addServicePort({ name: 'cache-5000', port: 5000, targetPort: k8s.IntOrString.fromString('cache-5000') }),
    ).toThrow('clashes with the Service\'s port 5000 ("https")');
  });

  it('serves Prometheus metrics on a second container port, annotated for scraping and not in the Service', () => {
    const { manifests } = synth();
    const template = findObject(manifests, 'Deployment').spec.template;
    expect(template.spec.containers[0].ports).toEqual([
      { name: 'https', containerPort: 5000 },
      { name: 'metrics', containerPort: 5001 },
    ]);
    expect(template.metadata.annotations).toMatchObject({
      'prometheus.io/scrape': 'true',
      'prometheus.io/port': '5001',
      'prometheus.io/path': '/metrics',
    });
    expect(findObject(manifests, 'Service').spec.ports.map((port: any) => port.targetPort)).toEqual(['https']);
  });

  it('rolls the pod when the certificate changes', () => {
    const annotation = (manifests: any[]) =>
      findObject(manifests, 'Deployment').spec.template.metadata.annotations['cdk8s-private-registry/tls-sha256'];
    const other = synth({ material: { ...material, tls: serverCertificate(material.ca) } });
    expect(annotation(synth().manifests)).toMatch(/^[0-9a-f]{64}$/);
    expect(annotation(other.manifests)).not.toBe(annotation(synth().manifests));
  });

  it.each([
    [{ nodePort: 80 }, "'nodePort' must be an integer in 30000-32767, got 80: pick a port in the NodePort range"],
    [{ port: 70000 }, "'port' must be an integer in 1-65535, got 70000: pick a TCP port"],
    [
      { name: 'Registry' },
      `'name' must be a Service name (lowercase letters, digits and '-', starting with a letter, ending with a letter or digit, at most 63 characters), got "Registry": pick a name like "container-registry"`,
    ],
    [{ name: '1registry' }, `'name' must be a Service name`],
    [
      { storageSize: '10 GB' },
      `'storageSize' must be a Kubernetes quantity like "10Gi", got "10 GB": write a whole number with a unit such as Mi or Gi`,
    ],
    [
      { image: 'registry' },
      `'image' must name an exact version like "registry:3.1.1", got "registry": add a tag other than latest, or a digest, so every synth deploys the same code`,
    ],
    [
      { image: 'localhost:5000/registry' },
      `'image' must name an exact version like "registry:3.1.1", got "localhost:5000/registry"`,
    ],
    [{ image: 'registry:latest' }, `'image' must name an exact version like "registry:3.1.1", got "registry:latest"`],
    [{ metricsPort: 0 }, "'metricsPort' must be an integer in 1-65535, got 0: pick a TCP port"],
    [
      { port: 5001 },
      "'metricsPort' and 'port' are both 5001: the metrics server needs its own port; leave 'metricsPort' out for 5001",
    ],
    [{ replicas: 0 }, "'replicas' must be a whole number of at least 1, got 0: use 1 for a local registry"],
    [
      { replicas: 2 },
      "'replicas' is 2 but 'storageAccessMode' is ReadWriteOnce: replicas on other nodes could not mount the volume; use replicas: 1, or storage: RegistryStorage.s3({...}), or storageAccessMode: 'ReadWriteMany' with a storage class that supports it",
    ],
  ] as [Partial<RegistryServerProps>, string][])('refuses %j', (props, message) => {
    expect(() => synth({ material: undefined, tls: material.tls, ...props })).toThrow(message);
  });
});

describe('RegistryServer refuses what its material contradicts, as RegistryChart does', () => {
  // Keys are the slow part: made once for the whole file.
  const foreignCa = createCertificateAuthority();
  const foreignTls = serverCertificate(foreignCa);
  // Certificates are only issued while the CA is current: a one-day certificate from the first minute of a
  // CA made ten days ago, long over.
  const tenDaysOldCa = createCertificateAuthority({ now: new Date(Date.now() - 10 * DAY_MS) });
  const caStart = describeCertificate(tenDaysOldCa.certificatePem).notBefore.getTime();
  const expiredTls = serverCertificate(tenDaysOldCa, { now: new Date(caStart + 60_000), validityDays: 1 });
  const futureTls = serverCertificate(material.ca, { now: new Date(Date.now() + 2 * DAY_MS) });
  const expiredCa = createCertificateAuthority({ now: new Date(Date.now() - 40 * DAY_MS), validityDays: 30 });
  const futureCa = createCertificateAuthority({ now: new Date(Date.now() + 2 * DAY_MS) });
  const describe = (certificate: CertificateAndKey) => describeCertificate(certificate.certificatePem);

  it('follows the material: no silent fallback to the default NodePort (material made with nodePort 30500)', () => {
    const { manifests } = synth({ material: customMaterial, name: 'images' }, 'registry');
    expect(findObject(manifests, 'Service').spec.ports[0]).toMatchObject({ port: 5443, nodePort: 30500 });
  });

  it.each([
    [
      'nodePort',
      { nodePort: 31113 },
      `'nodePort' is 31113 but the material's registries.yaml says 30500: the nodes would not find the registry; leave 'nodePort' out to follow the material, or make new material with that value`,
    ],
    [
      'port',
      { port: 5000 },
      `'port' is 5000 but the material's registries.yaml says 5443: the nodes would not find the registry; leave 'port' out to follow the material, or make new material with that value`,
    ],
    [
      'hostname',
      { hostname: 'container-registry.local' },
      `'hostname' is "container-registry.local" but the material's registries.yaml says "images.local": the nodes would not find the registry; leave 'hostname' out to follow the material, or make new material with that value`,
    ],
  ] as [string, Partial<RegistryServerProps>, string][])(
    'refuses a %s that disagrees with registries.yaml',
    (_, props, message) => {
      expect(() => synth({ material: customMaterial, name: 'images', ...props }, 'registry')).toThrow(message);
    },
  );

  it('refuses a certificate that does not name the Service in the namespace where it lands', () => {
    expect(() => synth({}, 'platform')).toThrow(
      `'material.tls' does not name container-registry.platform, container-registry.platform.svc, container-registry.platform.svc.cluster.local: clients using those names would fail TLS; 'material.ca' may not vouch for them (its name constraints): a new hostname, Service or namespace needs a new CA: private-registry certs renew --rotate-ca --namespace platform, then give the nodes and desktops the new ca.crt`,
    );
  });

  it('refuses a certificate that does not name the hostname, pointing at certs renew, which adds it', () => {
    expect(() => synth({ material: undefined, tls: material.tls, hostname: 'other.local' })).toThrow(
      `'tls' does not name other.local: clients using those names would fail TLS; renew the certificate for this hostname, Service and namespace (private-registry certs renew)`,
    );
  });

  it('refuses a key that does not match its certificate', () => {
    const tls = { certificatePem: material.tls.certificatePem, privateKeyPem: foreignTls.privateKeyPem };
    expect(() => synth({ material: { ...material, tls } })).toThrow(
      `'material.tls.privateKeyPem' does not belong to 'material.tls' (CN=container-registry.local): the registry could not serve TLS with them; give that certificate's key, or issue a new certificate and key (private-registry certs renew)`,
    );
  });

  it('refuses a certificate not signed by the CA given', () => {
    const ca = describe(material.ca);
    expect(() => synth({ material: { ...material, tls: foreignTls } })).toThrow(
      `'material.tls' (CN=container-registry.local) is not signed by 'material.ca' (CN=cdk8s-private-registry CA, SHA-256 ${ca.sha256Fingerprint}): clients that trust that CA would reject the registry; give the CA that issued it, or issue a new certificate from this CA (private-registry certs renew)`,
    );
    expect(() => synth({ material: undefined, tls: foreignTls, caCertificatePem: material.ca.certificatePem })).toThrow(
      `'tls' (CN=container-registry.local) is not signed by 'caCertificatePem' (CN=cdk8s-private-registry CA`,
    );
  });

  it('refuses an expired certificate, naming the command that renews it', () => {
    expect(() => synth({ material: { ...material, ca: tenDaysOldCa, tls: expiredTls } })).toThrow(
      `'material.tls' (CN=container-registry.local) expired on ${describe(expiredTls).notAfter.toISOString()}: clients reject an expired certificate; issue a new one (private-registry certs renew)`,
    );
  });

  it('refuses a certificate that is not valid yet', () => {
    expect(() => synth({ material: { ...material, tls: futureTls } })).toThrow(
      `'material.tls' (CN=container-registry.local) is not valid until ${describe(futureTls).notBefore.toISOString()}: clients reject it until then; check this machine's clock, or issue a new one (private-registry certs renew)`,
    );
  });

  it('refuses an expired CA, naming --rotate-ca', () => {
    // Issued while that CA was current (certificates are never issued from a CA outside its validity).
    const tls = serverCertificate(expiredCa, { now: new Date(Date.now() - 39 * DAY_MS), validityDays: 1 });
    expect(() => synth({ material: { ...material, ca: expiredCa, tls } })).toThrow(
      `'material.ca' (CN=cdk8s-private-registry CA) expired on ${describe(expiredCa).notAfter.toISOString()}: clients reject an expired certificate; make a new CA (private-registry certs renew --rotate-ca), then give the nodes and desktops the new ca.crt`,
    );
  });

  it('refuses a CA that is not valid yet', () => {
    const tls = serverCertificate(futureCa, { now: new Date(Date.now() + 2 * DAY_MS) });
    expect(() => synth({ material: { ...material, ca: futureCa, tls } })).toThrow(
      `'material.ca' (CN=cdk8s-private-registry CA) is not valid until ${describe(futureCa).notBefore.toISOString()}: clients reject it until then; check this machine's clock, or make a new CA (private-registry certs renew --rotate-ca), then give the nodes and desktops the new ca.crt`,
    );
  });

  it('takes its certificate from exactly one place', () => {
    expect(() => synth({ material: undefined })).toThrow(
      `RegistryServer needs exactly one of 'material' or 'tls', got neither: pass the material (readMaterial()), or a certificate and key`,
    );
    expect(() => synth({ tls: material.tls })).toThrow(
      `RegistryServer needs exactly one of 'material' or 'tls', got both`,
    );
    expect(() => synth({ caCertificatePem: material.ca.certificatePem })).toThrow(
      `'caCertificatePem' is given with 'material', which has its own CA: leave 'caCertificatePem' out to use 'material.ca'`,
    );
  });
});
