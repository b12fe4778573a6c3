import { describe, expect, it } from 'vitest';
import { k3dClusterConfig, k3dCreateArgs } from '../lib/k3d-config';

describe('k3dClusterConfig', () => {
  it("defaults to one server, no agents, k3d's default name and NodePort 31113 on 127.0.0.1", () => {
    const config = k3dClusterConfig({ materialDir: '/home/me/registry' });
    expect(config.metadata.name).toBe('k3s-default');
    expect([config.servers, config.agents]).toEqual([1, 0]);
    expect(config.ports).toEqual([{ port: '127.0.0.1:31113:31113', nodeFilters: ['loadbalancer'] }]);
  });

  it('refuses a relative material directory: k3d would take it as a named volume', () => {
    expect(() => k3dClusterConfig({ materialDir: 'registry' })).toThrow(
      `'materialDir' must be an absolute path without ':', '@', ';' or ',', got "registry": k3d cannot mount it; move the material directory`,
    );
  });

  it('turns into the equivalent k3d cluster create arguments', () => {
    expect(k3dCreateArgs(k3dClusterConfig({ materialDir: '/r', nodePort: 30001, name: 'dev', agents: 2 }))).toEqual([
      'k3d',
      'cluster',
      'create',
      'dev',
      '--servers',
      '1',
      '--agents',
      '2',
      '--image',
      'rancher/k3s:v1.32.5-k3s1',
      '--volume',
      '/r/node:/registry:ro@server:*;agent:*',
      '--port',
      '127.0.0.1:30001:30001@loadbalancer',
      '--k3s-arg',
      '--private-registry=/registry/certs/registries.yaml@server:*;agent:*',
    ]);
  });
});
