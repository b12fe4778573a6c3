import { Chart, Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { RegistryAuth, type RegistryAuthProps } from '../lib';
import { parseHtpasswd, verifyPassword } from '../lib/htpasswd';
import { withNodeCredentials } from '../lib/material-users';
import { customFixtureMaterial, findObject, fixtureMaterial } from './support/fixture-material';
import { seededRandom } from './support/seeded-random';

const material = fixtureMaterial();

function synth(props: RegistryAuthProps) {
  const chart = new Chart(Testing.app(), 'test', { namespace: 'apps', disableResourceNameHashes: true });
  const auth = new RegistryAuth(chart, 'Auth', props);
  return { auth, manifests: Testing.synth(chart) };
}

const htpasswdOf = (manifests: any[]) =>
  Buffer.from(findObject(manifests, 'Secret').data.htpasswd, 'base64').toString('utf8');

describe('RegistryAuth', () => {
  it('defaults', () => {
    expect(
      synth({ htpasswd: material.htpasswd, nodeCredentials: material.nodeCredentials }).manifests,
    ).toMatchSnapshot();
  });

  it('custom', () => {
    const { manifests } = synth({
      users: [
        { username: 'iris', password: 'one' },
        { username: 'ci', password: 'two' },
      ],
      nodeCredentials: { username: 'ci', password: 'two' },
      bcryptCost: 4,
      secretName: 'pull-users',
      realm: 'Private',
      random: seededRandom('auth'),
    });
    expect(manifests).toMatchSnapshot();
  });

  it('hashes users with bcrypt at the default cost 4 into a Secret in the chart namespace', () => {
    const { auth, manifests } = synth({ users: [{ username: 'iris', password: 'one' }] });
    const secret = findObject(manifests, 'Secret', 'container-registry-htpasswd');
    expect(secret.metadata.namespace).toBe('apps');
    const entries = parseHtpasswd(htpasswdOf(manifests));
    expect(entries[0].hash.startsWith('$2b$04$')).toBe(true);
    expect(verifyPassword(entries, 'iris', 'one')).toBe(true);
    expect(auth.nodeCredentials).toEqual({ username: 'iris', password: 'one' });
  });

  it('passes a ready htpasswd through unchanged, so synth is byte-identical', () => {
    expect(
      htpasswdOf(synth({ htpasswd: material.htpasswd, nodeCredentials: material.nodeCredentials }).manifests),
    ).toBe(material.htpasswd);
  });

  it('renders the registries.yaml the nodes pull with', () => {
    const { auth } = synth({ htpasswd: material.htpasswd, nodeCredentials: material.nodeCredentials });
    const config = yaml.load(
      auth.registriesYaml({
        hostname: 'container-registry.local',
        registryPort: 5000,
        nodePort: 31113,
        caFile: '/registry/certs/ca.crt',
      }),
    ) as any;
    expect(config.configs['container-registry.local:5000'].auth).toEqual(material.nodeCredentials);
  });

  it.each([
    [
      {},
      "RegistryAuth needs exactly one of 'material', 'users' or 'htpasswd', got none: pass the material (readMaterial()), users to hash, or a ready htpasswd",
    ],
    [
      { users: [], htpasswd: '' },
      "RegistryAuth needs exactly one of 'material', 'users' or 'htpasswd', got 'users' and 'htpasswd': pass the material (readMaterial()), users to hash, or a ready htpasswd",
    ],
    [
      { material, htpasswd: material.htpasswd },
      "RegistryAuth needs exactly one of 'material', 'users' or 'htpasswd', got 'material' and 'htpasswd'",
    ],
    [{ users: [] }, "'users' must list at least one user, got []: add { username, password }"],
    [
      { users: [{ username: 'a b', password: 'x' }] },
      `'username' must be non-empty with no ':' or whitespace, got "a b": pick a name like "registry"`,
    ],
    [
      { users: [{ username: 'iris', password: 'x'.repeat(73) }] },
      `'password' for user "iris" must be at most 72 bytes, got 73 bytes`,
    ],
    [{ users: [{ username: 'iris', password: '' }] }, `'password' for user "iris" must not be empty`],
    [
      { htpasswd: 'iris:plain\n', nodeCredentials: { username: 'iris', password: 'plain' } },
      `RegistryAuth 'htpasswd' line 1 must be "user:<bcrypt hash>"`,
    ],
    [
      { htpasswd: 'x' },
      "'nodeCredentials' is required with 'htpasswd': the nodes need a username and password that the htpasswd accepts",
    ],
    [
      { users: [{ username: 'iris', password: 'one' }], bcryptCost: 40 },
      "'bcryptCost' must be an integer in 4-31, got 40: bcrypt costs run from 4 (fastest) to 31",
    ],
    [
      { users: [{ username: 'iris', password: 'one' }], nodeCredentials: { username: 'bob', password: 'one' } },
      `'nodeCredentials' for user "bob" do not match the htpasswd`,
    ],
  ] as [RegistryAuthProps, string][])('refuses %j', (props, message) => {
    expect(() => synth(props)).toThrow(message);
  });
});

describe('RegistryAuth from the material', () => {
  it("takes the material's htpasswd and node credentials", () => {
    const { auth, manifests } = synth({ material });
    expect(htpasswdOf(manifests)).toBe(material.htpasswd);
    expect(auth.nodeCredentials).toEqual(material.nodeCredentials);
  });

  it("refuses node credentials that are not the ones the material's registries.yaml gives the nodes", () => {
    const registries = withNodeCredentials(material.registries, { username: 'registry', password: 'another' });
    expect(() => synth({ material: { ...material, registries } })).toThrow(
      `'material.nodeCredentials' (user "registry") are not what the material's registries.yaml gives the nodes (user "registry", another password): the nodes pull with registries.yaml's; take both from one material directory (readMaterial)`,
    );
    const otherUser = customFixtureMaterial().registries;
    expect(() => synth({ material: { ...material, registries: otherUser } })).toThrow(
      `'material.nodeCredentials' (user "registry") are not what the material's registries.yaml gives the nodes (user "iris")`,
    );
  });

  it('refuses material whose node credentials its htpasswd does not accept', () => {
    const nodeCredentials = { username: 'registry', password: 'wrong' };
    expect(() => synth({ material: { ...material, nodeCredentials, registries: undefined } })).toThrow(
      `'material.nodeCredentials' for user "registry" do not match the htpasswd: the nodes could not pull; give that user's password or add the user`,
    );
  });

  it("refuses 'nodeCredentials' beside 'material', which has its own", () => {
    expect(() => synth({ material, nodeCredentials: material.nodeCredentials })).toThrow(
      `'nodeCredentials' is given with 'material', which has its own: leave 'nodeCredentials' out to use 'material.nodeCredentials'`,
    );
  });
});
