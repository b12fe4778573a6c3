import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type InitArgs, init } from '../../cli/commands/init';
import { main } from '../../cli/main';
import { describeCertificate } from '../../lib/certificates';
import { parseHtpasswd, verifyPassword } from '../../lib/htpasswd';
import { readMaterial } from '../../lib/material';
import { NOW, captureIo, inDirectory, materialTemplate, tempDir, treeHashes } from './helpers';

const DEFAULTS: Omit<InitArgs, 'dir'> = {
  hostname: 'container-registry.local',
  nodePort: 31113,
  user: 'registry',
  passwordStdin: false,
  caDays: 3650,
  certDays: 825,
  force: false,
};

describe('init', () => {
  let template: ReturnType<typeof materialTemplate>;
  beforeAll(() => {
    template = materialTemplate();
  });

  it('creates the material directory as synth would, 0600 for keys and credentials', async () => {
    const dir = path.join(tempDir(), 'registry');
    const io = captureIo();
    expect(await init({ ...DEFAULTS, dir }, io)).toBe(0);

    const material = readMaterial(dir);
    expect(material.nodeCredentials.username).toBe('registry');
    expect(material.nodeCredentials.password).toMatch(/^[a-zA-Z0-9]{24}$/);
    expect(verifyPassword(parseHtpasswd(material.htpasswd), 'registry', material.nodeCredentials.password)).toBe(true);
    const modes = Object.fromEntries(
      [
        'node/certs/ca.crt',
        'certs/ca.key',
        'certs/tls.crt',
        'certs/tls.key',
        'node/certs/registries.yaml',
        'auth/htpasswd',
        'auth/password',
      ].map((file) => [file, (fs.statSync(path.join(dir, file)).mode & 0o777).toString(8)]),
    );
    expect(modes).toEqual({
      'node/certs/ca.crt': '644',
      'certs/ca.key': '600',
      'certs/tls.crt': '644',
      'certs/tls.key': '600',
      'node/certs/registries.yaml': '600',
      'auth/htpasswd': '600',
      'auth/password': '600',
    });
    expect(io.out()).toBe('');
    expect(io.err()).toContain(`the password of "registry" is in ${dir}/auth/password (generated)`);
    expect(io.err()).toContain('next steps:');
    expect(io.err()).toContain(
      `private-registry k3d-config --dir ${dir} --out k3d.yaml && k3d cluster create --config k3d.yaml`,
    );
    expect(io.err()).toContain(`REGISTRY_MATERIAL_DIR=${dir} npx cdk8s synth && kubectl apply -f dist`);
  });

  describe('the next steps name the directory only where a command would not find it by itself', () => {
    it('not when it is REGISTRY_MATERIAL_DIR', async () => {
      const dir = path.join(tempDir(), 'registry');
      const io = captureIo({ env: { REGISTRY_MATERIAL_DIR: dir } });
      expect(await main(['init'], io)).toBe(0);
      expect(io.err()).toContain(
        '  1. private-registry k3d-config --out k3d.yaml && k3d cluster create --config k3d.yaml\n',
      );
      expect(io.err()).toContain('  2. npx cdk8s synth && kubectl apply -f dist\n');
      expect(io.err()).toContain('  5. private-registry doctor --live\n');
    });

    it('"registry" when REGISTRY_MATERIAL_DIR names another directory', async () => {
      const cwd = tempDir();
      const io = captureIo({ env: { REGISTRY_MATERIAL_DIR: path.join(cwd, 'elsewhere') } });
      expect(await inDirectory(cwd, () => main(['init', '--dir', 'registry'], io))).toBe(0);
      expect(fs.readdirSync(cwd)).toEqual(['registry']);
      expect(io.err()).toContain(
        '  1. private-registry k3d-config --dir registry --out k3d.yaml && k3d cluster create --config k3d.yaml\n',
      );
      expect(io.err()).toContain('  2. REGISTRY_MATERIAL_DIR=registry npx cdk8s synth && kubectl apply -f dist\n');
      expect(io.err()).toContain('  3. private-registry trust --dir registry    (how this machine trusts the CA)\n');
      expect(io.err()).toContain('  5. private-registry doctor --dir registry --live\n');
    });
  });

  it('takes the hostname, NodePort, user, password and lifetimes from its flags', async () => {
    const dir = path.join(tempDir(), 'registry');
    const io = captureIo({ stdin: 'correct horse battery\n' });
    const code = await init(
      {
        ...DEFAULTS,
        dir,
        hostname: 'registry.test',
        nodePort: 30500,
        user: 'iris',
        passwordStdin: true,
        caDays: 100,
        certDays: 10,
      },
      io,
    );
    expect(code).toBe(0);
    const material = readMaterial(dir, { now: NOW });
    // One trailing newline is the end of the line piped in, not part of the password.
    expect(material.nodeCredentials).toEqual({ username: 'iris', password: 'correct horse battery' });
    expect(Object.keys(material.registries.mirrors)).toEqual(['registry.test:5000', 'localhost:30500']);
    const tls = describeCertificate(material.tls.certificatePem, NOW);
    expect(tls.dnsNames).toContain('registry.test');
    expect(Math.round((tls.notAfter.getTime() - NOW.getTime()) / 86_400_000)).toBe(10);
    expect(io.err()).toContain('docker login localhost:30500 -u iris --password-stdin');
  });

  it('refuses existing material without --force and changes nothing', async () => {
    const dir = template.copy();
    const before = treeHashes(path.dirname(dir));
    const io = captureIo();
    expect(await main(['init', '--dir', dir], io)).toBe(2);
    expect(io.err()).toBe(
      `error: ${dir} already exists: keep it (private-registry doctor checks it), or pass --force to move it to a timestamped backup and create new material\n`,
    );
    expect(treeHashes(path.dirname(dir))).toEqual(before);
  });

  it('with --force moves the old material to a timestamped backup first', async () => {
    const dir = template.copy();
    const old = treeHashes(dir);
    const io = captureIo({ now: new Date('2025-06-07T08:09:10.123Z') });
    expect(await main(['init', '--dir', dir, '--force'], io)).toBe(0);
    const backup = `${dir}.backup-20250607T080910Z`;
    expect(io.err()).toContain(`moved the old material to ${backup}\n`);
    expect(treeHashes(backup)).toEqual(old);
    expect(readMaterial(dir).ca.certificatePem).not.toBe(readMaterial(backup).ca.certificatePem);
  });

  it('keeps two backups made in the same second apart', async () => {
    const dir = template.copy();
    const io = captureIo();
    expect(await main(['init', '--dir', dir, '--force'], io)).toBe(0);
    expect(await main(['init', '--dir', dir, '--force'], io)).toBe(0);
    expect(fs.readdirSync(path.dirname(dir)).sort()).toEqual([
      'registry',
      'registry.backup-20250102T030405Z',
      'registry.backup-20250102T030405Z-2',
    ]);
  });

  describe('bad input exits 2, names the flag and the fix, and leaves every file unchanged', () => {
    const cases: { name: string; args: string[]; stdin?: string; error: string }[] = [
      {
        name: 'NodePort out of range',
        args: ['--node-port', '80'],
        error: '--node-port must be an integer in 30000-32767, got 80: pick a port in the NodePort range',
      },
      {
        name: 'a bad hostname',
        args: ['--hostname', 'bad_host!'],
        error: `--hostname must be a DNS hostname (dot-separated labels of letters, digits and '-'), got "bad_host!": pick a name like "container-registry.local"`,
      },
      {
        name: "a user with ':'",
        args: ['--user', 'a:b'],
        error: `--user must be non-empty with no ':' or whitespace, got "a:b": pick a name like "registry"`,
      },
      {
        name: 'an empty password',
        args: ['--password-stdin'],
        stdin: '\n',
        error:
          'the password read by --password-stdin for user "registry" must not be empty: give a password or let one be generated',
      },
      {
        name: 'a 73-byte password',
        args: ['--password-stdin'],
        stdin: `${'x'.repeat(73)}\n`,
        error:
          'the password read by --password-stdin for user "registry" must be at most 72 bytes, got 73 bytes: bcrypt ignores everything after byte 72, so use a shorter password',
      },
      {
        name: 'a CA lifetime of 0 days',
        args: ['--ca-days', '0'],
        error: '--ca-days must be an integer in 1-36500, got 0: give the CA lifetime in days',
      },
      {
        name: 'a certificate lifetime that is not a number',
        args: ['--cert-days', 'soon'],
        // Refused while the command line is read, before the library sees it: with the usual pointer to --help.
        error: '--cert-days must be a number, got "soon"\nsee: private-registry init --help',
      },
    ];

    for (const { name, args, stdin, error } of cases) {
      it(`${name}, with no material yet`, async () => {
        const parent = tempDir();
        const io = captureIo({ stdin });
        expect(await main(['init', '--dir', path.join(parent, 'registry'), ...args], io)).toBe(2);
        expect(io.err()).toBe(`error: ${error}\n`);
        expect(fs.readdirSync(parent)).toEqual([]);
      });

      it(`${name}, with --force over existing material`, async () => {
        const dir = template.copy();
        const before = treeHashes(path.dirname(dir));
        const io = captureIo({ stdin });
        expect(await main(['init', '--dir', dir, '--force', ...args], io)).toBe(2);
        expect(io.err()).toBe(`error: ${error}\n`);
        expect(treeHashes(path.dirname(dir))).toEqual(before);
      });
    }

    it('an unknown flag', async () => {
      const parent = tempDir();
      const io = captureIo();
      expect(await main(['init', '--dir', path.join(parent, 'registry'), '--node-prot', '31113'], io)).toBe(2);
      expect(io.err()).toBe('error: unknown flag --node-prot\nsee: private-registry init --help\n');
      expect(fs.readdirSync(parent)).toEqual([]);
    });
  });
});
