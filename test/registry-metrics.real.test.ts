import { get } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { readMaterial } from '../lib';
import { findObject } from './support/fixture-material';
import { freeLoopbackPort } from './support/free-port';
import { httpsGet } from './support/https-request';
import { describeReal } from './support/real-software';
import { registryEnvFromManifests } from './support/registry-from-manifests';
import { type RunningRegistry, startRegistry, stopAllRegistries } from './support/registry-process';
import { type SynthesizedApp, synthInProcess } from './support/synth-app';

function httpGet(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, { agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

describeReal('the synthesized registry serves Prometheus metrics on its own port', ['docker-registry'], () => {
  let work: string;
  let app: SynthesizedApp;
  let env: Record<string, string>;
  let registry: RunningRegistry;
  let metricsUrl: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'registry-metrics-'));
    app = await synthInProcess(join(work, 'registry'), join(work, 'dist'));
    const metricsPort = await freeLoopbackPort();
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    // Only the address moves onto loopback, as REGISTRY_HTTP_ADDR does; the rest is the Deployment's env.
    const deployment = app.manifests.find((object) => object.kind === 'Deployment');
    expect(deployment.spec.template.spec.containers[0].env).toContainEqual({
      name: 'REGISTRY_HTTP_DEBUG_ADDR',
      value: '0.0.0.0:5001',
    });
    env = registryEnvFromManifests(
      app.manifests,
      join(work, 'pod'),
      `127.0.0.1:${await freeLoopbackPort()}`,
      `127.0.0.1:${metricsPort}`,
    );
    registry = await startRegistry({ env, workDir: work });
  });

  afterAll(async () => {
    await stopAllRegistries();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('annotates the pod for scraping on the port and path the registry serves', () => {
    const template = findObject(app.manifests, 'Deployment').spec.template;
    const { annotations } = template.metadata;
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(template.spec.containers[0].ports).toContainEqual({
      name: 'metrics',
      containerPort: Number(annotations['prometheus.io/port']),
    });
    expect(env.REGISTRY_HTTP_DEBUG_PROMETHEUS_PATH).toBe(annotations['prometheus.io/path']);
    // The NodePort publishes the registry's TLS port only.
    const service = findObject(app.manifests, 'Service');
    const targets = service.spec.ports.map((port: any) => port.targetPort);
    expect(targets).toEqual(['https']);
    expect(targets).not.toContain('metrics');
    expect(targets).not.toContain(Number(annotations['prometheus.io/port']));
  });

  it('counts requests in the Prometheus text format at /metrics, plain HTTP without credentials', async () => {
    const material = readMaterial(join(work, 'registry'));
    const base = `https://localhost:${registry.port}`;
    for (let i = 0; i < 3; i++)
      expect(
        (await httpsGet(`${base}/v2/`, { ca: material.ca.certificatePem, auth: material.nodeCredentials })).status,
      ).toBe(200);
    const scraped = await httpGet(metricsUrl);
    expect(scraped.status, registry.logs()).toBe(200);
    expect(scraped.body).toMatch(/^# TYPE registry_http_requests_total counter$/m);
    const requests = /^registry_http_requests_total\{[^}]*handler="base"[^}]*\} (\d+)$/m.exec(scraped.body);
    expect(Number(requests?.[1])).toBeGreaterThanOrEqual(3);
  });

  it('does not serve metrics on the TLS port that the NodePort publishes', async () => {
    const material = readMaterial(join(work, 'registry'));
    const response = await httpsGet(`https://localhost:${registry.port}/metrics`, { ca: material.ca.certificatePem });
    expect(response.status).toBe(404);
  });
});
