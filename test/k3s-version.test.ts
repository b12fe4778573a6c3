import { describe, expect, it } from 'vitest';
import { k3dClusterConfig, k3dConfigProblems, renderK3dConfig } from '../lib/k3d-config';
import { DEFAULT_K3S_IMAGE, assertKnownGoodK3sImage, k3sVersionOfImage, k3sVersionProblem } from '../lib/k3s-version';

describe('k3s versions', () => {
  it('pins a k3s from v1.29.4 on', () => {
    expect(DEFAULT_K3S_IMAGE).toMatch(/^rancher\/k3s:v1\.(29|3\d)\.\d+-k3s\d$/);
    expect(k3sVersionProblem(k3sVersionOfImage(DEFAULT_K3S_IMAGE)!)).toBeUndefined();
    expect(k3dClusterConfig({ materialDir: '/m' }).image).toBe(DEFAULT_K3S_IMAGE);
  });

  it.each(['v1.29.3+k3s1', 'v1.28.8+k3s1', 'v1.27.12+k3s1', 'v1.26.15+k3s1', 'v1.26.3+k3s1', '1.29.3'])(
    'knows %s breaks the registry',
    (version) => {
      expect(k3sVersionProblem(version)).toBeDefined();
    },
  );

  it.each(['v1.29.4+k3s1', 'v1.28.9+k3s1', 'v1.27.13+k3s1', 'v1.29.2+k3s1', 'v1.32.5+k3s1', 'v1.33.0+k3s1'])(
    'has nothing against %s',
    (version) => {
      expect(k3sVersionProblem(version)).toBeUndefined();
    },
  );

  it('reads the version from an image tag', () => {
    expect(k3sVersionOfImage('rancher/k3s:v1.29.3-k3s1')).toBe('v1.29.3');
    expect(k3sVersionOfImage('my.registry:5000/rancher/k3s:v1.31.2-k3s1')).toBe('v1.31.2');
    expect(k3sVersionOfImage('rancher/k3s:latest')).toBeUndefined();
    expect(k3sVersionOfImage('rancher/k3s')).toBeUndefined();
  });

  it('refuses a broken version with the reason and the fix, and a floating tag', () => {
    expect(() => k3dClusterConfig({ materialDir: '/m', image: 'rancher/k3s:v1.29.3-k3s1' })).toThrow(
      `'image' is "rancher/k3s:v1.29.3-k3s1": k3s v1.29.3 writes hosts.toml without a [host] table, which containerd 1.7 rejects ("invalid \`host\` tree"), so pulls by the registry's hostname fail; fixed in v1.29.4, v1.28.9 and v1.27.13 (k3s PR #9853): use ${DEFAULT_K3S_IMAGE} or any k3s from v1.29.4 on`,
    );
    expect(() => assertKnownGoodK3sImage('image', 'rancher/k3s:v1.26.15-k3s1')).toThrow(
      /k3s v1\.26 .* never got the fix/,
    );
    expect(() => assertKnownGoodK3sImage('image', 'rancher/k3s:latest')).toThrow(
      `'image' must name a k3s version tag, got "rancher/k3s:latest": pin one such as ${DEFAULT_K3S_IMAGE} (a floating tag gives each desktop a different k3s)`,
    );
    expect(k3dClusterConfig({ materialDir: '/m', image: 'rancher/k3s:v1.31.4-k3s1' }).image).toBe(
      'rancher/k3s:v1.31.4-k3s1',
    );
  });

  it('the rendered config says how to add an agent later and that k3d registries: is ignored', () => {
    const text = renderK3dConfig(k3dClusterConfig({ materialDir: '/m', name: 'dev' }));
    expect(text).toContain(
      `#   k3d node create NAME --cluster dev --role agent --image ${DEFAULT_K3S_IMAGE} --k3s-arg --private-registry=/registry/certs/registries.yaml\n`,
    );
    expect(text).toContain('Do not add k3d "registries:" settings');
  });
});

describe('k3dConfigProblems', () => {
  const good = k3dClusterConfig({ materialDir: '/home/me/registry' });

  it('has nothing against our own config', () => {
    expect(k3dConfigProblems(JSON.parse(JSON.stringify(good)))).toEqual([]);
  });

  it('names k3d registries: settings next to --private-registry', () => {
    expect(k3dConfigProblems({ ...good, registries: { create: { name: 'r' } } })).toEqual([
      `it has k3d "registries:" settings and --private-registry: k3s reads only --private-registry, so k3d's registries (create, use, config) are silently ignored; remove them, or add their mirrors to the material's registries.yaml`,
    ]);
  });

  it('names a broken k3s image', () => {
    expect(k3dConfigProblems({ ...good, image: 'rancher/k3s:v1.28.8-k3s1' })[0]).toMatch(
      /^its image rancher\/k3s:v1\.28\.8-k3s1: k3s v1\.28\.8 writes hosts\.toml without a \[host\] table/,
    );
  });

  it('names a volume that mounts the whole material directory, and a writable node directory', () => {
    expect(
      k3dConfigProblems({ ...good, volumes: [{ volume: '/home/me/registry:/registry', nodeFilters: ['server:*'] }] }),
    ).toEqual([
      'its volume /home/me/registry:/registry mounts /home/me/registry on every node: if that is the material directory, its keys, htpasswd and password reach every node; mount /home/me/registry/node instead (private-registry k3d-config)',
    ]);
    expect(
      k3dConfigProblems({
        ...good,
        volumes: [{ volume: '/home/me/registry/node:/registry', nodeFilters: ['server:*'] }],
      }),
    ).toEqual([
      'its volume /home/me/registry/node:/registry is writable on every node: add ":ro" (private-registry k3d-config)',
    ]);
  });
});
