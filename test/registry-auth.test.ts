import { Chart, Testing } from 'cdk8s';
import * as yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { RegistryAuth, type RegistryAuthProps, parseHtpasswd, verifyPassword } from '../lib';
import { findObject, fixtureMaterial } from './support/fixture-material';
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
      "RegistryAuth needs exactly one of 'users' or 'htpasswd', got neither: pass users to hash, or a ready htpasswd",
    ],
    [
      { users: [], htpasswd: '' },
      "RegistryAuth needs exactly one of 'users' or 'htpasswd', got both: pass users to hash, or a ready htpasswd",
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
