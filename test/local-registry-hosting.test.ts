import { Chart, Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { LocalRegistryHosting } from '../lib';

function synth(props: ConstructorParameters<typeof LocalRegistryHosting>[2]) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'somewhere' });
  new LocalRegistryHosting(chart, 'Hosting', props);
  return Testing.synth(chart);
}

describe('LocalRegistryHosting', () => {
  it('defaults', () => {
    expect(synth({ host: 'localhost:31113' })).toMatchSnapshot();
  });

  it('custom', () => {
    expect(
      synth({
        host: 'localhost:5001',
        hostFromContainerRuntime: 'reg:5000',
        hostFromClusterNetwork: 'reg.ns.svc:5000',
        help: 'https://example.test',
      }),
    ).toMatchSnapshot();
  });

  it('is always kube-public/local-registry-hosting with key localRegistryHosting.v1 (KEP-1755)', () => {
    const [configMap] = synth({ host: 'localhost:31113', hostFromContainerRuntime: 'container-registry.local:5000' });
    expect(configMap.metadata.namespace).toBe('kube-public');
    expect(configMap.metadata.name).toBe('local-registry-hosting');
    expect(yaml.load(configMap.data['localRegistryHosting.v1'])).toEqual({
      host: 'localhost:31113',
      hostFromContainerRuntime: 'container-registry.local:5000',
    });
  });
});
