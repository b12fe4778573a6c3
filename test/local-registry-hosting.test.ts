import { Chart, Testing, Yaml } from 'cdk8s';
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

  it("writes the KEP's fields as cdk8s's YAML writer does, and any value so that YAML reads it back", () => {
    const usual = {
      host: 'localhost:31113',
      hostFromContainerRuntime: 'container-registry.local:5000',
      hostFromClusterNetwork: 'container-registry.container-registry.svc.cluster.local:5000',
      help: 'https://github.com/cdk8s-private-registry/cdk8s-private-registry#readme',
    };
    expect(synth(usual)[0].data['localRegistryHosting.v1']).toBe(Yaml.stringify(usual));
    // Values the plain writer leaves to cdk8s's: words YAML reads otherwise, quotes, colons, long text.
    for (const help of ['yes', 'null', '123', 'a: b', "it's", '"quoted"', '#hash', `${'word '.repeat(30)}end`, '']) {
      const text = synth({ host: 'localhost:31113', help })[0].data['localRegistryHosting.v1'];
      expect(yaml.load(text), JSON.stringify(help)).toEqual({ host: 'localhost:31113', help });
    }
  });
});
