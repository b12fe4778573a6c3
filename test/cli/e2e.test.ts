import * as fs from 'node:fs';
import * as path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { type RunResult, run } from '../support/run';
import { tempDir, treeHashes } from './helpers';

const ROOT = path.resolve(__dirname, '../..');
const BIN = path.join(ROOT, 'bin/private-registry.js');

/** The installed command, as a user runs it: the built bin in its own process, in the user's directory. */
function cli(cwd: string, args: string[], input?: string) {
  return run(process.execPath, [BIN, ...args], { cwd, input, env: { PATH: process.env.PATH } });
}

describe('the built private-registry bin', () => {
  /**
   * One `init` through the bin, in the first test's directory, and a copy of the material it made: a test
   * that needs material to start from copies it instead of running its own `init` (two RSA keys and a
   * process, ~0.8 s of CPU). The copy is taken before any test changes the material.
   */
  let firstDir: string;
  let init: RunResult;
  let initialMaterial: string;

  beforeAll(async () => {
    // test/global-setup.ts compiles once before any suite; rebuilding here would race the synth suites.
    expect(fs.existsSync(path.join(ROOT, 'build/cli/main.js')), 'build/cli/main.js is missing: run npm run build').toBe(
      true,
    );
    firstDir = tempDir('cli-e2e-');
    init = await cli(firstDir, ['init']);
    initialMaterial = path.join(tempDir('cli-e2e-initial-'), 'registry');
    if (init.code === 0) fs.cpSync(path.join(firstDir, 'registry'), initialMaterial, { recursive: true });
  });

  it('init → user add → doctor → certs renew → doctor', async () => {
    const cwd = firstDir;

    expect(init.code, init.stderr).toBe(0);
    expect(init.stderr).toContain(
      'created registry/: CA, server certificate, htpasswd and registries.yaml for user "registry"',
    );
    expect(init.stderr).toContain(
      '  1. private-registry k3d-config --out k3d.yaml && k3d cluster create --config k3d.yaml',
    );

    const add = await cli(cwd, ['user', 'add', 'bob']);
    expect(add.code, add.stderr).toBe(0);
    const password = add.stdout.trim();
    expect(password).toMatch(/^[a-zA-Z0-9]{24}$/);
    expect((await cli(cwd, ['user', 'verify', 'bob', '--password-stdin'], `${password}\n`)).code).toBe(0);
    expect((await cli(cwd, ['user', 'verify', 'bob', '--password-stdin'], 'wrong\n')).code).toBe(1);

    const doctor = await cli(cwd, ['doctor']);
    expect(doctor.code, doctor.stdout).toBe(0);
    expect(doctor.stdout).toContain('ok    htpasswd: 2 user(s) (registry, bob), all bcrypt, cost 4\n');
    expect(doctor.stderr).toContain('all 17 checks passed');

    const oldCertificate = fs.readFileSync(path.join(cwd, 'registry/certs/tls.crt'), 'utf8');
    const renew = await cli(cwd, ['certs', 'renew']);
    expect(renew.code, renew.stderr).toBe(0);
    expect(fs.readFileSync(path.join(cwd, 'registry/certs/tls.crt'), 'utf8')).not.toBe(oldCertificate);
    const backups = fs.readdirSync(cwd).filter((name) => name.startsWith('registry.backup-'));
    expect(backups).toHaveLength(1);
    expect(fs.readFileSync(path.join(cwd, backups[0], 'certs/tls.crt'), 'utf8')).toBe(oldCertificate);

    const again = await cli(cwd, ['doctor', '--json']);
    expect(again.code, again.stdout).toBe(0);
    expect((JSON.parse(again.stdout) as { ok: boolean }).ok).toBe(true);
  });

  it('bad input exits 2 from the real process and leaves the files alone', async () => {
    const cwd = tempDir('cli-e2e-');
    expect((await cli(cwd, ['init', '--password-stdin'], 'pw-for-e2e\n')).code).toBe(0);
    const before = treeHashes(cwd);

    const again = await cli(cwd, ['init', '--force', '--node-port', '80']);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(
      'error: --node-port must be an integer in 30000-32767, got 80: pick a port in the NodePort range\n',
    );
    const unknown = await cli(cwd, ['user', 'add', 'carol', '--pasword-stdin']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('error: unknown flag --pasword-stdin\nsee: private-registry user add --help\n');
    expect(treeHashes(cwd)).toEqual(before);
  });

  it('prints help without touching anything, and after init the k3d command line', async () => {
    const cwd = tempDir('cli-e2e-');
    const help = await cli(cwd, ['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^private-registry <command> \[flags\]/);
    expect(fs.readdirSync(cwd)).toEqual([]);
    // The material of the shared `init` (beforeAll), as if `init` had run here.
    expect(init.code, init.stderr).toBe(0);
    fs.cpSync(initialMaterial, path.join(cwd, 'registry'), { recursive: true });
    const command = await cli(cwd, ['k3d-config', '--print-command']);
    expect(command.stdout).toBe(
      `k3d cluster create k3s-default --servers 1 --agents 0 --image rancher/k3s:v1.32.5-k3s1 --volume '${fs.realpathSync(cwd)}/registry/node:/registry:ro@server:*;agent:*' --port 127.0.0.1:31113:31113@loadbalancer --k3s-arg '--private-registry=/registry/certs/registries.yaml@server:*;agent:*'\n`,
    );
  });
});
