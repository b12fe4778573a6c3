import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { RegistryChart, RegistryStorage } from '../lib';
import { ExampleChart } from '../charts/example-chart';
import { customFixtureMaterial, fixtureMaterial, fixtureMaterialWithCaches } from './support/fixture-material';

/**
 * No API server here for `kubectl apply --dry-run`, so every synthesized object is checked against the
 * Kubernetes OpenAPI schema instead (kubernetes-models: types, required fields, formats).
 */
const MODELS: Record<string, () => Promise<Record<string, any>>> = {
  v1: () => import('kubernetes-models/v1'),
  'apps/v1': () => import('kubernetes-models/apps/v1'),
  'batch/v1': () => import('kubernetes-models/batch/v1'),
  'rbac.authorization.k8s.io/v1': () => import('kubernetes-models/rbac.authorization.k8s.io/v1'),
  'policy/v1': () => import('kubernetes-models/policy/v1'),
};

async function validate(object: any): Promise<void> {
  const models = await MODELS[object.apiVersion]?.();
  const Model = models?.[object.kind];
  if (Model === undefined) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  new Model(object).validate();
}

const material = fixtureMaterial();
const charts = {
  defaults: () => new RegistryChart(Testing.app(), 'registry', { material }),
  custom: () =>
    new RegistryChart(Testing.app(), 'registry', {
      material: customFixtureMaterial(),
      namespace: 'registry',
      serviceName: 'images',
      storageAccessMode: 'ReadWriteMany',
      replicas: 2,
      storageClassName: 'nfs',
    }),
  'scheduled garbage collection': () =>
    new RegistryChart(Testing.app(), 'registry', { material, garbageCollectionSchedule: '30 4 * * *' }),
  s3: () =>
    new RegistryChart(Testing.app(), 'registry', {
      material,
      storage: RegistryStorage.s3({
        endpoint: 'https://minio.example.internal:9000',
        region: 'us-east-1',
        bucket: 'container-registry',
        credentials: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      }),
    }),
  'pull-through caches': () =>
    new RegistryChart(Testing.app(), 'registry', {
      material: fixtureMaterialWithCaches([
        { upstream: 'docker.io', credentials: { username: 'hub-user', password: 'dckr_pat_example' } },
        { upstream: 'ghcr.io', ttl: '24h' },
        { upstream: 'https://registry.example.com', port: 5104 },
      ]),
    }),
  example: () => new ExampleChart(Testing.app(), 'example'),
};

describe('synthesized objects against the Kubernetes schema', () => {
  it.each(Object.keys(charts) as (keyof typeof charts)[])('%s chart: every object validates', async (name) => {
    const manifests = Testing.synth(charts[name]());
    expect(manifests.length).toBeGreaterThan(0);
    for (const object of manifests) await validate(object);
  });

  it('covers the garbage collection objects', () => {
    const kinds = Testing.synth(charts.defaults()).map((object) => object.kind);
    expect(kinds).toEqual(expect.arrayContaining(['CronJob', 'Role', 'RoleBinding', 'ServiceAccount']));
  });

  it('the check bites: a CronJob without a schedule is refused', async () => {
    const cronJob = Testing.synth(charts.defaults()).find((object) => object.kind === 'CronJob');
    const { schedule: _, ...spec } = cronJob.spec;
    await expect(validate({ ...cronJob, spec })).rejects.toThrow('schedule');
  });

  it('the check bites: a Deployment with replicas "one" is refused', async () => {
    const deployment = Testing.synth(charts.defaults()).find((object) => object.kind === 'Deployment');
    await expect(validate({ ...deployment, spec: { ...deployment.spec, replicas: 'one' } })).rejects.toThrow(
      'replicas must be integer',
    );
  });
});
