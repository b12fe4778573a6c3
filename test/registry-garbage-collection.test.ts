import { Chart, Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { RegistryAuth, RegistryGarbageCollection, RegistryServer, type RegistryServerProps } from '../lib';
import { READ_ONLY_ENV, type RegistryGarbageCollectionProps } from '../lib/registry-garbage-collection';
import { findObject, fixtureMaterial } from './support/fixture-material';

const material = fixtureMaterial();

function synth(props: Partial<RegistryGarbageCollectionProps> = {}, server: Partial<RegistryServerProps> = {}) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'container-registry', disableResourceNameHashes: true });
  const auth = new RegistryAuth(chart, 'Auth', {
    htpasswd: material.htpasswd,
    nodeCredentials: material.nodeCredentials,
  });
  const registry = new RegistryServer(chart, 'Registry', { tls: material.tls, auth, ...server });
  new RegistryGarbageCollection(chart, 'GarbageCollection', { registry, ...props });
  const manifests = Testing.synth(chart);
  return manifests.filter((object) => object.metadata.labels?.['app.kubernetes.io/component'] === 'garbage-collection');
}

const podOf = (manifests: any[]) => findObject(manifests, 'CronJob').spec.jobTemplate.spec.template.spec;
const commandLine = (container: any) => [...container.command, ...container.args].join(' ');

describe('RegistryGarbageCollection', () => {
  it('defaults', () => {
    expect(synth()).toMatchSnapshot();
  });

  it('custom', () => {
    const manifests = synth(
      { schedule: '@daily', kubectlImage: 'bitnami/kubectl:1.31.4', rolloutTimeoutSeconds: 60, name: 'reclaim' },
      { image: 'registry:2.8.3' },
    );
    expect(manifests).toMatchSnapshot();
    expect(findObject(manifests, 'CronJob').spec).toMatchObject({ schedule: '@daily', suspend: false });
    expect(commandLine(podOf(manifests).initContainers[2])).toContain(
      'garbage-collect /etc/docker/registry/config.yml',
    );
  });

  it('runs the steps in order, one container each: read-only, wait, collect (no --delete-untagged), read-write', () => {
    const pod = podOf(synth());
    expect(pod.initContainers.map(commandLine)).toEqual([
      `kubectl --namespace container-registry set env deployment/container-registry -c registry ${READ_ONLY_ENV.name}={"enabled":true}`,
      'kubectl --namespace container-registry rollout status deployment/container-registry --timeout=300s',
      'kubectl --namespace container-registry exec deployment/container-registry -c registry -- registry garbage-collect /etc/distribution/config.yml',
    ]);
    expect(pod.containers.map(commandLine)).toEqual([
      `kubectl --namespace container-registry set env deployment/container-registry -c registry ${READ_ONLY_ENV.name}-`,
    ]);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.securityContext.runAsNonRoot).toBe(true);
  });

  it('is suspended until scheduled, never runs twice at once, and does not retry blindly', () => {
    const cronJob = findObject(synth(), 'CronJob');
    expect(cronJob.spec).toMatchObject({ suspend: true, concurrencyPolicy: 'Forbid' });
    expect(cronJob.spec.jobTemplate.spec.backoffLimit).toBe(0);
    expect(findObject(synth({ schedule: '0 3 * * 0' }), 'CronJob').spec.suspend).toBe(false);
  });

  it('may patch only the registry Deployment, read pods and exec into them', () => {
    const manifests = synth();
    expect(findObject(manifests, 'Role').rules).toEqual([
      {
        apiGroups: ['apps'],
        resources: ['deployments'],
        resourceNames: ['container-registry'],
        verbs: ['get', 'patch', 'list', 'watch'],
      },
      { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
    ]);
    expect(findObject(manifests, 'RoleBinding').subjects).toEqual([
      { kind: 'ServiceAccount', name: 'container-registry-gc', namespace: 'container-registry' },
    ]);
    expect(podOf(manifests).serviceAccountName).toBe('container-registry-gc');
  });

  it.each([
    [
      { schedule: 'every sunday' },
      `'schedule' must be a cron schedule of five fields or @daily/@weekly/..., got "every sunday": for Sundays at 03:00 write "0 3 * * 0"`,
    ],
    [{ kubectlImage: 'bitnami/kubectl' }, `'kubectlImage' must name an exact version like "registry:3.1.1"`],
    [
      { rolloutTimeoutSeconds: 5 },
      `'rolloutTimeoutSeconds' must be a whole number of at least 30, got 5: the registry pod needs time to restart`,
    ],
  ] as [Partial<RegistryGarbageCollectionProps>, string][])('refuses %j', (props, message) => {
    expect(() => synth(props)).toThrow(message);
  });

  it('refuses a registry that rolls its pods over (ReadWriteMany): an old pod could take a push during the collection', () => {
    expect(() => synth({}, { storageAccessMode: 'ReadWriteMany', replicas: 2 })).toThrow(
      "garbage collection needs the registry's Recreate strategy, but its storage is shared by replicas (S3 or ReadWriteMany, RollingUpdate)",
    );
  });
});
