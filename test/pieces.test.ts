import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Chart, Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  MATERIAL_FILES,
  NodeHostsDaemonSet,
  PrivateApp,
  RegistryAuth,
  RegistryServer,
  generateMaterial,
  loadOrCreateMaterial,
} from '../lib';
import { describeCertificate } from '../lib/certificates';
import { renderRegistriesYaml } from '../lib/registries-yaml';
import { findObject, fixtureMaterial } from './support/fixture-material';
import { loadManifests } from './support/synth-app';

/** The README's "Or the pieces" example, with its paths under `work`. */
function readmePieces(work: string): void {
  const app = new PrivateApp({ outdir: join(work, 'dist') });
  const chart = new Chart(app, 'platform', { namespace: 'platform' });
  const { material } = loadOrCreateMaterial(join(work, 'registry-platform'), { namespace: 'platform' });
  const auth = new RegistryAuth(chart, 'Auth', { material });
  const server = new RegistryServer(chart, 'Registry', { material, auth });
  new NodeHostsDaemonSet(chart, 'NodeHosts', { registry: server, material });
  app.synth();
}

describe("the README's pieces, used on their own", () => {
  let work: string;
  let manifests: any[];
  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'pieces-'));
    readmePieces(work);
    manifests = loadManifests(join(work, 'dist'));
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('synthesize into the chart namespace, private on disk', () => {
    expect(manifests.map((object) => `${object.kind}/${object.metadata.name} ${object.metadata.namespace}`)).toEqual([
      'Secret/container-registry-htpasswd platform',
      'Secret/container-registry-tls platform',
      'Secret/container-registry-http platform',
      'PersistentVolumeClaim/container-registry platform',
      'Deployment/container-registry platform',
      'Service/container-registry platform',
      'ConfigMap/container-registry-node-hosts platform',
      'DaemonSet/container-registry-node-hosts platform',
    ]);
    expect(statSync(join(work, 'dist', 'platform.k8s.yaml')).mode & 0o777).toBe(0o600);
    expect(statSync(join(work, 'dist')).mode & 0o777).toBe(0o700);
  });

  it('serve a certificate that names the Service where it lands, and the nodes the same address as registries.yaml', () => {
    const tls = findObject(manifests, 'Secret', 'container-registry-tls');
    const certificate = describeCertificate(Buffer.from(tls.data['tls.crt'], 'base64').toString('utf8'));
    expect(certificate.dnsNames).toContain('container-registry.platform.svc');
    const registriesYaml = readFileSync(join(work, 'registry-platform', MATERIAL_FILES.registriesYaml), 'utf8');
    expect(yaml.load(registriesYaml)).toMatchObject({
      mirrors: { 'localhost:31113': { endpoint: ['https://container-registry.local:5000'] } },
    });
    expect(findObject(manifests, 'Service').spec.ports[0]).toMatchObject({ port: 5000, nodePort: 31113 });
    const env = findObject(manifests, 'DaemonSet').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'REGISTRY_HOSTNAME', value: 'container-registry.local' });
  });

  it('run again from the material now on disk, byte-identical', () => {
    const first = readFileSync(join(work, 'dist', 'platform.k8s.yaml'), 'utf8');
    readmePieces(work);
    expect(readFileSync(join(work, 'dist', 'platform.k8s.yaml'), 'utf8')).toBe(first);
  });
});

describe("the issue's drift cases, refused or followed", () => {
  it('material made with nodePort 30500: the Service gets 30500, as registries.yaml mirrors localhost:30500', () => {
    const material = generateMaterial({ nodePort: 30500, bcryptCost: 4 });
    const chart = new Chart(Testing.app(), 'apps', { namespace: 'container-registry' });
    const auth = new RegistryAuth(chart, 'Auth', { material });
    new RegistryServer(chart, 'Registry', { material, auth });
    expect(renderRegistriesYaml(material.registries)).toContain('localhost:30500');
    expect(findObject(Testing.synth(chart), 'Service').spec.ports[0].nodePort).toBe(30500);
  });

  it('check material anew when it changed, though the same certificates were parsed and accepted before', () => {
    const material = fixtureMaterial();
    const chart = new Chart(Testing.app(), 'apps', { namespace: 'container-registry' });
    const auth = new RegistryAuth(chart, 'Auth', { material });
    new RegistryServer(chart, 'Registry', { material, auth });
    // The same certificate with the CA's key; the same htpasswd with another password for the nodes.
    const foreignKey = { ...material, tls: { ...material.tls, privateKeyPem: material.ca.privateKeyPem } };
    expect(() => new RegistryServer(chart, 'Registry2', { material: foreignKey, auth })).toThrow(
      /^'material\.tls\.privateKeyPem' does not belong to 'material\.tls'/,
    );
    const otherPassword = { ...material, nodeCredentials: { ...material.nodeCredentials, password: 'not-it' } };
    expect(() => new RegistryAuth(chart, 'Auth2', { material: { ...otherPassword, registries: undefined } })).toThrow(
      /^'material\.nodeCredentials' for user "registry" do not match the htpasswd/,
    );
  });

  it("in namespace platform, the default material's certificate is refused with the fix", () => {
    const material = fixtureMaterial();
    const chart = new Chart(Testing.app(), 'platform', { namespace: 'platform' });
    const auth = new RegistryAuth(chart, 'Auth', { material });
    expect(() => new RegistryServer(chart, 'Registry', { material, auth })).toThrow(
      `'material.tls' does not name container-registry.platform, container-registry.platform.svc, container-registry.platform.svc.cluster.local: clients using those names would fail TLS; 'material.ca' may not vouch for them (its name constraints): a new hostname, Service or namespace needs a new CA: private-registry certs renew --rotate-ca --namespace platform, then give the nodes and desktops the new ca.crt`,
    );
  });
});
