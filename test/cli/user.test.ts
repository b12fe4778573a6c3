import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { userAdd, userList, userRemove, userVerify } from '../../cli/commands/user';
import { main } from '../../cli/main';
import { createServerCertificate } from '../../lib/certificates';
import { parseHtpasswd, verifyPassword } from '../../lib/htpasswd';
import { readMaterial } from '../../lib/material';
import { checkMaterial, readMaterialSnapshot } from '../../lib/material-checks';
import { containerdHostsFiles } from '../../lib/containerd-hosts';
import { FIXTURE_USER, NOW, captureIo, materialTemplate, read, tempDir, treeHashes, write } from './helpers';

describe('user', () => {
  let template: ReturnType<typeof materialTemplate>;
  beforeAll(() => {
    template = materialTemplate();
  });

  const users = (dir: string): string[] => parseHtpasswd(read(dir, 'auth/htpasswd')).map((entry) => entry.username);
  const passes = (dir: string, username: string, password: string): boolean =>
    verifyPassword(parseHtpasswd(read(dir, 'auth/htpasswd')), username, password);

  describe('add', () => {
    it('prints a generated password once on stdout and adds only that line', async () => {
      const dir = template.copy();
      const registriesYaml = read(dir, 'node/certs/registries.yaml');
      const io = captureIo();
      expect(await userAdd({ dir, name: 'bob', passwordStdin: false }, io)).toBe(0);
      expect(io.out()).toMatch(/^[a-zA-Z0-9]{24}\n$/);
      expect(passes(dir, 'bob', io.out().trim())).toBe(true);
      expect(users(dir)).toEqual(['registry', 'bob']);
      expect(read(dir, 'node/certs/registries.yaml')).toBe(registriesYaml);
      expect(io.err()).toBe(
        `added "bob" to ${dir}/auth/htpasswd; its password (above) is shown only this once\nthe registry learns it from its Secret: REGISTRY_MATERIAL_DIR=${dir} npx cdk8s synth && kubectl apply -f dist\n`,
      );
    });

    it('tells synth nothing it finds by itself (REGISTRY_MATERIAL_DIR)', async () => {
      const dir = template.copy();
      const io = captureIo({ env: { REGISTRY_MATERIAL_DIR: dir } });
      expect(await main(['user', 'add', 'bob'], io)).toBe(0);
      expect(io.err()).toContain('the registry learns it from its Secret: npx cdk8s synth && kubectl apply -f dist\n');
    });

    it('--help shows how to keep a printed password private', async () => {
      const io = captureIo();
      expect(await main(['user', 'add', '--help'], io)).toBe(0);
      expect(io.out()).toContain(
        'To keep the printed password in a file only you can read:\n  (umask 077; private-registry user add ci > ci-password.txt)\n',
      );
    });

    it('takes the password from stdin and prints nothing on stdout', async () => {
      const dir = template.copy();
      const io = captureIo({ stdin: 'p@ss word\r\n' });
      expect(await userAdd({ dir, name: 'alice', passwordStdin: true }, io)).toBe(0);
      expect(io.out()).toBe('');
      expect(passes(dir, 'alice', 'p@ss word')).toBe(true);
    });
  });

  it('list prints one name per line and says on stderr which one the nodes use', async () => {
    const dir = template.copy();
    await userAdd({ dir, name: 'bob', passwordStdin: false }, captureIo());
    const io = captureIo();
    expect(await userList({ dir }, io)).toBe(0);
    expect(io.out()).toBe('registry\nbob\n');
    expect(io.err()).toBe(`the nodes pull as "registry" (${dir}/node/certs/registries.yaml)\n`);
  });

  it('verify exits 0 for the right password and 1 for a wrong one', async () => {
    const dir = template.copy();
    expect(
      await main(
        ['user', 'verify', 'registry', '--password-stdin', '--dir', dir],
        captureIo({ stdin: `${FIXTURE_USER.password}\n` }),
      ),
    ).toBe(0);
    const io = captureIo({ stdin: 'wrong\n' });
    expect(await userVerify({ dir, name: 'registry' }, io)).toBe(1);
    expect(io.err()).toBe(`the password does not match "registry" in ${dir}/auth/htpasswd\n`);
  });

  it('list and verify read only the htpasswd and registries.yaml: what they answer does not depend on the keys', async () => {
    const dir = template.copy();
    write(dir, 'certs/tls.key', read(template.dir, 'certs/ca.key'));
    const io = captureIo();
    expect(await userList({ dir }, io)).toBe(0);
    expect(io.out()).toBe('registry\n');
    expect(
      await main(
        ['user', 'verify', 'registry', '--password-stdin', '--dir', dir],
        captureIo({ stdin: `${FIXTURE_USER.password}\n` }),
      ),
    ).toBe(0);
  });

  describe('remove', () => {
    it('removes a user the nodes do not use', async () => {
      const dir = template.copy();
      await userAdd({ dir, name: 'bob', passwordStdin: false }, captureIo());
      const registriesYaml = read(dir, 'node/certs/registries.yaml');
      expect(await userRemove({ dir, name: 'bob' }, captureIo())).toBe(0);
      expect(users(dir)).toEqual(['registry']);
      expect(read(dir, 'node/certs/registries.yaml')).toBe(registriesYaml);
    });

    it('switches the nodes to --node-user first, keeping registries.yaml and auth/password consistent', async () => {
      const dir = template.copy();
      await userAdd({ dir, name: 'iris', passwordStdin: true }, captureIo({ stdin: 'iris-password\n' }));
      const io = captureIo({ stdin: 'iris-password\n' });
      expect(
        await main(['user', 'remove', 'registry', '--node-user', 'iris', '--password-stdin', '--dir', dir], io),
      ).toBe(0);
      expect(users(dir)).toEqual(['iris']);
      const material = readMaterial(dir);
      expect(material.nodeCredentials).toEqual({ username: 'iris', password: 'iris-password' });
      expect(material.registries.configs?.['container-registry.local:5000']?.tls).toEqual({
        ca_file: '/registry/certs/ca.crt',
      });
      expect(read(dir, 'auth/password')).toBe('iris-password\n');
      expect(io.err()).toContain(
        `the nodes now pull as "iris" (${dir}/node/certs/registries.yaml); k3s reads it at start: restart the nodes`,
      );
      expect(checkMaterial(readMaterialSnapshot(dir), { now: NOW }).filter((check) => !check.ok)).toEqual([]);
    });

    it('--node-user rewrites certs.d with registries.yaml', async () => {
      const dir = template.copy();
      await userAdd({ dir, name: 'iris', passwordStdin: true }, captureIo({ stdin: 'iris-password\n' }));
      fs.rmSync(path.join(dir, 'node/certs.d'), { recursive: true });
      expect(
        await userRemove({ dir, name: 'registry', nodeUser: 'iris' }, captureIo({ stdin: 'iris-password\n' })),
      ).toBe(0);
      for (const file of containerdHostsFiles(readMaterial(dir).registries))
        expect(read(dir, `node/certs.d/${file.host}/hosts.toml`)).toBe(file.content);
    });
  });

  describe('bad input exits 2, says what to fix, and leaves every file unchanged', () => {
    const cases: {
      name: string;
      args: string[];
      stdin?: string;
      error: (dir: string) => string;
      prepare?: (dir: string) => void;
    }[] = [
      {
        name: "add a user with ':'",
        args: ['user', 'add', 'a:b'],
        error: () => `NAME must be non-empty with no ':' or whitespace, got "a:b": pick a name like "registry"`,
      },
      {
        name: 'add with an empty password',
        args: ['user', 'add', 'bob', '--password-stdin'],
        stdin: '\n',
        error: () =>
          'the password read by --password-stdin for user "bob" must not be empty: give a password or let one be generated',
      },
      {
        name: 'add with a 73-byte password',
        args: ['user', 'add', 'bob', '--password-stdin'],
        stdin: `${'é'.repeat(36)}x`,
        error: () =>
          'the password read by --password-stdin for user "bob" must be at most 72 bytes, got 73 bytes: bcrypt ignores everything after byte 72, so use a shorter password',
      },
      {
        name: 'add an existing user',
        args: ['user', 'add', 'registry'],
        error: (dir) =>
          `user "registry" already exists in ${dir}/auth/htpasswd: pick another name, or remove that user first`,
      },
      {
        name: "remove the nodes' user without --node-user",
        args: ['user', 'remove', 'registry'],
        error: (dir) =>
          `cannot remove "registry": the nodes pull with it (${dir}/node/certs/registries.yaml); switch them to another existing user first: give --node-user OTHER and OTHER's password on stdin (--password-stdin)`,
      },
      {
        name: 'remove with a --node-user password that does not match',
        args: ['user', 'remove', 'registry', '--node-user', 'bob', '--password-stdin'],
        stdin: 'not-bobs\n',
        prepare: (dir) =>
          write(
            dir,
            'auth/htpasswd',
            `${read(dir, 'auth/htpasswd')}bob:${parseHtpasswd(read(dir, 'auth/htpasswd'))[0].hash}\n`,
          ),
        error: (dir) =>
          `OTHER's password on stdin (--password-stdin) does not match "bob" in ${dir}/auth/htpasswd: give that user's current password`,
      },
      {
        name: 'remove switching the nodes to the user being removed',
        args: ['user', 'remove', 'registry', '--node-user', 'registry', '--password-stdin'],
        stdin: `${FIXTURE_USER.password}\n`,
        error: () =>
          '--node-user OTHER must name a user other than the one being removed, got "registry" for both: pick a user that stays',
      },
      {
        name: 'remove an unknown user',
        args: ['user', 'remove', 'nobody'],
        error: (dir) => `no user "nobody" in ${dir}/auth/htpasswd: the users are "registry"`,
      },
      {
        name: 'verify an unknown user',
        args: ['user', 'verify', 'nobody', '--password-stdin'],
        stdin: 'x\n',
        error: (dir) => `no user "nobody" in ${dir}/auth/htpasswd: the users are "registry"`,
      },
      {
        name: 'a corrupted certificate',
        args: ['user', 'add', 'bob'],
        prepare: (dir) => write(dir, 'certs/tls.crt', read(dir, 'certs/tls.crt').replace(/^MII/m, 'XXX')),
        error: (dir) => `${dir}/certs/tls.crt is not a PEM X.509 RSA certificate`,
      },
      {
        name: 'a key that belongs to another certificate (a change reads the whole material)',
        args: ['user', 'add', 'bob'],
        prepare: (dir) => write(dir, 'certs/tls.key', read(template.dir, 'certs/ca.key')),
        error: (dir) =>
          `${dir}/certs/tls.key does not belong to ${dir}/certs/tls.crt: restore the matching pair or renew the certificate`,
      },
      {
        name: 'a broken htpasswd line',
        args: ['user', 'add', 'bob'],
        prepare: (dir) => write(dir, 'auth/htpasswd', 'registry:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=\n'),
        error: (dir) =>
          `${dir}/auth/htpasswd line 1 must be "user:<bcrypt hash>" ($2a$/$2b$/$2y$), got "registry:{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9": the registry rejects other hash types; recreate the user with bcrypt`,
      },
    ];

    for (const { name, args, stdin, error, prepare } of cases) {
      it(name, async () => {
        const dir = template.copy();
        prepare?.(dir);
        const before = treeHashes(path.dirname(dir));
        const io = captureIo({ stdin });
        expect(await main([...args, '--dir', dir], io)).toBe(2);
        expect(io.err().startsWith(`error: ${error(dir)}`), io.err()).toBe(true);
        expect(treeHashes(path.dirname(dir))).toEqual(before);
      });
    }

    it('missing material', async () => {
      const dir = path.join(tempDir(), 'registry');
      const io = captureIo();
      expect(await main(['user', 'list', '--dir', dir], io)).toBe(2);
      expect(io.err()).toBe(
        `error: no material directory at ${dir}: create it with "private-registry init" (or npx cdk8s synth), or point --dir at it\n`,
      );
    });

    it('verify without --password-stdin is a usage error', async () => {
      const io = captureIo();
      expect(await main(['user', 'verify', 'registry', '--dir', template.dir], io)).toBe(2);
      expect(io.err()).toBe('error: missing --password-stdin\nsee: private-registry user verify --help\n');
    });

    it('--node-user without --password-stdin is a usage error', async () => {
      const io = captureIo();
      expect(await main(['user', 'remove', 'registry', '--node-user', 'bob', '--dir', template.dir], io)).toBe(2);
      expect(io.err()).toBe('error: --node-user needs --password-stdin\nsee: private-registry user remove --help\n');
    });
  });

  it('a server certificate from another CA is reported too (readMaterial cross-checks the whole directory)', async () => {
    const dir = template.copy();
    const other = materialTemplate();
    const foreign = createServerCertificate({
      ca: { certificatePem: read(other.dir, 'node/certs/ca.crt'), privateKeyPem: read(other.dir, 'certs/ca.key') },
      subjectAltNames: { dnsNames: ['localhost'], ipAddresses: [] },
    });
    write(dir, 'certs/tls.crt', foreign.certificatePem);
    write(dir, 'certs/tls.key', foreign.privateKeyPem);
    const io = captureIo();
    expect(await main(['user', 'add', 'bob', '--dir', dir], io)).toBe(2);
    expect(io.err()).toBe(
      `error: ${dir}/certs/tls.crt is not signed by ${dir}/node/certs/ca.crt: renew the server certificate from this CA\n`,
    );
  });
});
