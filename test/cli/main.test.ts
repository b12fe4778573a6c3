import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../cli/main';
import { captureIo, materialTemplate, tempDir } from './helpers';

const COMMANDS = [
  'init',
  'user',
  'user add',
  'user remove',
  'user list',
  'user verify',
  'certs',
  'certs show',
  'certs renew',
  'k3d-config',
  'trust',
  'doctor',
];

describe('main', () => {
  it.each(COMMANDS)('%s --help prints its usage on stdout and exits 0', async (command) => {
    const io = captureIo();
    expect(await main([...command.split(' '), '--help'], io)).toBe(0);
    expect(io.out()).toMatch(new RegExp(`^private-registry ${command}( <name>)?( <command>)? \\[flags\\]\\n`));
    expect(io.out()).toContain('--dir');
    expect(io.err()).toBe('');
  });

  it('--help lists every command', async () => {
    const io = captureIo();
    expect(await main(['--help'], io)).toBe(0);
    for (const command of ['init', 'user', 'certs', 'storage', 'k3d-config', 'trust', 'doctor'])
      expect(io.out()).toContain(`  private-registry ${command} `);
  });

  it('--version prints the package version', async () => {
    const io = captureIo();
    expect(await main(['--version'], io)).toBe(0);
    const { version } = JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as {
      version: string;
    };
    expect(io.out()).toBe(`${version}\n`);
  });

  describe('usage errors exit 2 and point at the right --help', () => {
    it.each([
      [
        [],
        'name a command: init, user, certs, storage, cache, k3d-config, trust, doctor, images, migrate',
        'private-registry --help',
      ],
      [['instal'], 'unknown argument "instal"', 'private-registry --help'],
      [['user'], 'name a user command: add, remove, list or verify', 'private-registry user --help'],
      [['storage'], 'name a storage command: s3, show or clear', 'private-registry storage --help'],
      [
        ['storage', 's3', '--region', 'us-east-1', '--bucket', 'b-1', '--access-key-id', 'K'],
        'missing --secret-access-key-stdin',
        'private-registry storage s3 --help',
      ],
      [['user', 'add'], 'missing <name>', 'private-registry user add --help'],
      [['user', 'add', 'bob', 'extra'], 'unknown argument "extra"', 'private-registry user add --help'],
      [['certs', 'renew', '--rotate-ca', '--force'], 'unknown flag --force', 'private-registry certs renew --help'],
      [['images'], 'name an images command: list, rm or du', 'private-registry images --help'],
      [['images', 'rm'], 'missing <images>', 'private-registry images rm --help'],
      [['images', 'du', '--url'], '--url needs a value: --url VALUE', 'private-registry images du --help'],
      [['doctor', '--live', '--dist'], '--dist needs a value: --dist VALUE', 'private-registry doctor --help'],
      [
        ['init', '--bogus', '--x=1', 'more'],
        'unknown flags --bogus, --x; unknown argument "more"',
        'private-registry init --help',
      ],
    ])('%j', async (args, message, help) => {
      const io = captureIo();
      expect(await main(args, io)).toBe(2);
      expect(io.err()).toBe(`error: ${message}\nsee: ${help}\n`);
      expect(io.out()).toBe('');
    });
  });

  describe('--dir', () => {
    let template: ReturnType<typeof materialTemplate>;
    beforeAll(() => {
      template = materialTemplate();
    });

    it('defaults to REGISTRY_MATERIAL_DIR, like synth', async () => {
      const io = captureIo({ env: { REGISTRY_MATERIAL_DIR: template.dir } });
      expect(await main(['user', 'list'], io)).toBe(0);
      expect(io.out()).toBe('registry\n');
    });
  });

  it('an unexpected failure (not bad input, not a check) exits 1 and says it was unexpected', async () => {
    const io = captureIo();
    io.readStdin = () => Promise.reject(new Error('stdin went away'));
    expect(await main(['init', '--password-stdin', '--dir', '/nonexistent-4f1c/registry'], io)).toBe(1);
    expect(io.err()).toBe('error: unexpected error: stdin went away\n');
  });

  it('a path from the user that cannot be used exits 2 and says which and why', async () => {
    const parent = tempDir();
    fs.writeFileSync(path.join(parent, 'file'), '');
    const io = captureIo();
    expect(await main(['init', '--dir', path.join(parent, 'file/registry')], io)).toBe(2);
    expect(io.err()).toBe(
      `error: cannot mkdir ${parent}/file: it is not a directory (EEXIST): check the paths you gave (--dir, --out, --root, --dist) and their permissions\n`,
    );
  });
});
