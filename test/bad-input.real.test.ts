import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { request } from 'node:http';
import * as path from 'node:path';
import * as bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MATERIAL_FILES, generateMaterial, writeNewMaterial } from '../lib';
import { MAX_USERNAME_BYTES } from '../lib/htpasswd';
import { tempDir } from './cli/helpers';
import { freeLoopbackPort } from './support/free-port';
import { describeReal } from './support/real-software';
import { type RunningRegistry, startRegistry } from './support/registry-process';

/**
 * Bad input through real processes: the built bin with real stdin bytes, the synth app, `npx cdk8s synth`,
 * a clock moved by faketime, and the real registry proving the user-name bound.
 */
const ROOT = path.join(__dirname, '..');
const BIN = path.join(ROOT, 'bin', 'private-registry.js');
const APP = path.join(ROOT, 'build', 'charts', 'main.js');
const STACK_TRACE = /^\s+at .+(:\d+:\d+\)?|<anonymous>\)?)$/m;

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function runNode(
  args: readonly string[],
  options: { input?: Uint8Array | string; env?: Record<string, string>; faketime?: string } = {},
): Ran {
  const command = options.faketime === undefined ? process.execPath : 'faketime';
  const fullArgs = options.faketime === undefined ? args : [options.faketime, process.execPath, ...args];
  const result = spawnSync(command, fullArgs, {
    input: options.input ?? '',
    env: { PATH: process.env.PATH ?? '', ...options.env },
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function hashes(dir: string): Record<string, string> {
  const entries: Record<string, string> = {};
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const full = path.join(dir, name);
    const stat = fs.lstatSync(full);
    entries[name] = stat.isFile()
      ? `${createHash('sha256').update(fs.readFileSync(full)).digest('hex')} ${(stat.mode & 0o777).toString(8)}`
      : (stat.mode & 0o777).toString(8);
  }
  return entries;
}

/** Material made now with the default lifetimes: the CA ends in 3650 days, the server certificate in 825. */
function freshMaterial(): string {
  const dir = path.join(tempDir('bad-real-'), 'registry');
  writeNewMaterial(dir, generateMaterial({ password: 'a-real-password' }));
  return dir;
}
const inDays = (days: number): string => new Date(Date.now() + days * 86_400_000).toISOString().slice(0, 10);

describe('bad input through the real bin', () => {
  let dir: string;
  let before: Record<string, string>;
  beforeAll(() => {
    dir = freshMaterial();
    before = hashes(dir);
  });
  afterAll(() => expect(hashes(dir)).toEqual(before));

  it('refuses a password piped in that is not UTF-8, reading the real stdin as bytes', () => {
    const result = runNode([BIN, 'user', 'add', 'bob', '--password-stdin', '--dir', dir], {
      input: Buffer.from([0x70, 0x77, 0xe9, 0x0a]),
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'error: the password read by --password-stdin is not valid UTF-8 (byte 0x0a at offset 3): registry clients send the password as UTF-8; pipe in the password as UTF-8 text\n',
    );
  });

  it('refuses --password-stdin=yes instead of printing a random password', () => {
    const result = runNode([BIN, 'user', 'add', 'bob', '--password-stdin=yes', '--dir', dir], { input: 'pw\n' });
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('--password-stdin is a switch, got the value "yes"');
  });

  it('refuses a user name the registry reads as a comment, and one of 256 bytes', () => {
    for (const name of ['#admin', 'u'.repeat(MAX_USERNAME_BYTES + 1)]) {
      const result = runNode([BIN, 'user', 'add', name, '--dir', dir]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^error: NAME must (not start with '#'|be at most 255 bytes)/);
      expect(result.stdout).toBe('');
    }
  });

  it('refuses --dir "" and a dangling REGISTRY_MATERIAL_DIR with one line each', () => {
    const empty = runNode([BIN, 'user', 'list', '--dir', '']);
    expect(empty.code).toBe(2);
    expect(empty.stderr).toMatch(/^error: --dir must name the material directory, got "".*\n$/);
    const link = path.join(tempDir(), 'link');
    fs.symlinkSync(path.join(path.dirname(link), 'gone'), link);
    const dangling = runNode([BIN, 'doctor'], { env: { REGISTRY_MATERIAL_DIR: link } });
    expect(dangling.code).toBe(2);
    expect(dangling.stderr.split('\n')).toHaveLength(2);
    expect(dangling.stderr).toContain('which does not exist: restore what it points to, or remove the link');
  });
});

describeReal(
  'certificate expiry with the clock moved by faketime',
  ['faketime'],
  () => {
    let dir: string;
    beforeAll(() => {
      dir = freshMaterial();
    });

    it('a year before the server certificate ends: works; 20 days before: doctor warns and exits 0', () => {
      expect(runNode([BIN, 'k3d-config', '--dir', dir], { faketime: inDays(365) }).code).toBe(0);
      const doctor = runNode([BIN, 'doctor', '--dir', dir, '--dist', path.join(dir, 'no-dist')], {
        faketime: inDays(805),
      });
      expect(doctor.code, doctor.stdout).toBe(0);
      expect(doctor.stdout).toMatch(
        /^WARN {2}server certificate expiry: .* fewer than 30; fix: private-registry certs renew$/m,
      );
    });

    it('after the server certificate ended: refused, naming certs renew; renewing fixes it', () => {
      const before = hashes(dir);
      const expired = runNode([BIN, 'trust', '--dir', dir], { faketime: inDays(830) });
      expect(expired.code).toBe(2);
      expect(expired.stderr).toMatch(
        /^error: .*tls\.crt expired on .*: issue a new server certificate: private-registry certs renew\n$/,
      );
      expect(hashes(dir)).toEqual(before);
      const copy = path.join(tempDir(), 'registry');
      fs.cpSync(dir, copy, { recursive: true });
      expect(runNode([BIN, 'certs', 'renew', '--dir', copy], { faketime: inDays(830) }).code).toBe(0);
      expect(runNode([BIN, 'trust', '--dir', copy], { faketime: inDays(830) }).code).toBe(0);
    });

    it('after the CA ended: synth refuses with one line, certs renew needs --rotate-ca, which fixes it', () => {
      const copy = path.join(tempDir(), 'registry');
      fs.cpSync(dir, copy, { recursive: true });
      const later = inDays(3700);
      const before = hashes(copy);

      const synth = runNode([APP], { faketime: later, env: { REGISTRY_MATERIAL_DIR: copy, CDK8S_OUTDIR: tempDir() } });
      expect(synth.code).toBe(1);
      expect(synth.stderr).toMatch(/^error: .*ca\.crt expired on .*private-registry certs renew --rotate-ca.*\n$/);
      expect(synth.stderr).not.toMatch(STACK_TRACE);

      const renew = runNode([BIN, 'certs', 'renew', '--dir', copy], { faketime: later });
      expect(renew.code).toBe(2);
      expect(renew.stderr).toContain('expired on');
      expect(renew.stderr).toContain('private-registry certs renew --rotate-ca');
      expect(hashes(copy)).toEqual(before);

      const rotate = runNode([BIN, 'certs', 'renew', '--rotate-ca', '--dir', copy], { faketime: later });
      expect(rotate.code, rotate.stderr).toBe(0);
      expect(runNode([BIN, 'k3d-config', '--dir', copy], { faketime: later }).code).toBe(0);
    });
  },
  { root: false },
);

describe('a failed synth prints one line of ours', () => {
  const cases: [string, (root: string) => string, RegExp][] = [
    [
      'a dangling symbolic link',
      (root) => {
        fs.symlinkSync(path.join(root, 'gone'), path.join(root, 'link'));
        return path.join(root, 'link');
      },
      /^error: .*link is a symbolic link to .*gone, which does not exist: restore what it points to, or remove the link to create new material there\n$/,
    ],
    [
      'a regular file',
      (root) => {
        fs.writeFileSync(path.join(root, 'file'), 'x');
        return path.join(root, 'file');
      },
      /^error: .*file is not a directory: point 'dir' \(REGISTRY_MATERIAL_DIR\) at the material directory\n$/,
    ],
    ['an empty REGISTRY_MATERIAL_DIR', () => '', /^error: 'dir' must name the material directory, got ""/],
    [
      'a material directory it cannot read (a file system error)',
      (root) => {
        const dir = path.join(root, 'registry');
        writeNewMaterial(dir, generateMaterial({ password: 'pw-pw-pw' }));
        // The directory of the CA key replaced by a file: reading the key fails with ENOTDIR.
        const keys = path.join(dir, path.dirname(MATERIAL_FILES.caKey));
        fs.rmSync(keys, { recursive: true });
        fs.writeFileSync(keys, 'not a directory');
        return dir;
      },
      /^error: .* is missing or unreadable: restore it from a backup/,
    ],
    [
      'an empty htpasswd (not a credentials mismatch)',
      (root) => {
        const dir = path.join(root, 'registry');
        writeNewMaterial(dir, generateMaterial({ password: 'pw-pw-pw' }));
        fs.writeFileSync(path.join(dir, MATERIAL_FILES.htpasswd), '');
        return dir;
      },
      /^error: .*auth\/htpasswd has no users: nobody could log in to the registry/,
    ],
  ];

  it.each(cases)('the app with %s', (_what, prepare, message) => {
    const root = tempDir('synth-bad-');
    const materialDir = prepare(root);
    const result = runNode([APP], {
      env: { REGISTRY_MATERIAL_DIR: materialDir, CDK8S_OUTDIR: path.join(root, 'dist') },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(result.stderr).not.toMatch(STACK_TRACE);
  });

  it('through npx cdk8s synth: our line, then cdk8s-cli adds its own trace (the README says so)', () => {
    const root = tempDir('synth-bad-');
    fs.symlinkSync(path.join(root, 'gone'), path.join(root, 'link'));
    const result = spawnSync(
      path.join(ROOT, 'node_modules', '.bin', 'cdk8s'),
      ['synth', '--no-check-upgrade', '--app', 'node build/charts/main.js', '--output', path.join(root, 'dist')],
      { cwd: ROOT, env: { ...process.env, REGISTRY_MATERIAL_DIR: path.join(root, 'link') }, encoding: 'utf8' },
    );
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain(
      `error: ${path.join(root, 'link')} is a symbolic link to ${path.join(root, 'gone')}`,
    );
    // Every trace line comes from cdk8s-cli, none from our app.
    const traceLines = result.stderr.split('\n').filter((line) => STACK_TRACE.test(line));
    expect(traceLines.length).toBeGreaterThan(0);
    expect(traceLines.filter((line) => !line.includes('node_modules/cdk8s-cli') && !line.includes('node:'))).toEqual(
      [],
    );
  });
});

describeReal(
  'the user-name bound against the real registry',
  ['docker-registry'],
  () => {
    let work: string;
    const running: RunningRegistry[] = [];
    afterAll(async () => {
      for (const registry of running) await registry.stop();
    });
    beforeAll(() => {
      work = tempDir('names-');
    });

    /** The status of GET /v2/ with basic auth, against a registry whose htpasswd holds `names` (password "pw"). */
    async function loginStatus(names: readonly string[], login: string): Promise<number> {
      const hash = bcrypt.hashSync('pw', bcrypt.genSaltSync(4)).replace(/^\$2a/, '$2b');
      const htpasswd = path.join(work, `htpasswd-${names.map((name) => name.length).join('-')}`);
      fs.writeFileSync(htpasswd, names.map((name) => `${name}:${hash}\n`).join(''));
      const port = await freeLoopbackPort();
      const registry = await startRegistry({
        workDir: work,
        env: {
          REGISTRY_HTTP_ADDR: `127.0.0.1:${port}`,
          REGISTRY_AUTH: 'htpasswd',
          REGISTRY_AUTH_HTPASSWD_REALM: 'test',
          REGISTRY_AUTH_HTPASSWD_PATH: htpasswd,
          REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY: path.join(work, `storage-${port}`),
        },
      });
      running.push(registry);
      try {
        return await new Promise<number>((resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port,
              path: '/v2/',
              headers: { authorization: `Basic ${Buffer.from(`${login}:pw`).toString('base64')}` },
            },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          );
          req.on('error', reject);
          req.end();
        });
      } finally {
        await registry.stop();
      }
    }

    it(`a name of ${MAX_USERNAME_BYTES} bytes logs in`, async () => {
      const name = 'é'.repeat((MAX_USERNAME_BYTES - 1) / 2) + 'x';
      expect(Buffer.byteLength(name)).toBe(MAX_USERNAME_BYTES);
      expect(await loginStatus([name], name)).toBe(200);
    });

    it('the measured limit: a 65,474-byte name logs in; one byte more and every user gets 400', async () => {
      expect(await loginStatus(['a'.repeat(65_474)], 'a'.repeat(65_474))).toBe(200);
      expect(await loginStatus(['ok', 'a'.repeat(65_475)], 'ok')).toBe(400);
    });

    it('a name starting with # is a comment to the registry: it never logs in', async () => {
      expect(await loginStatus(['#admin'], '#admin')).toBe(401);
    });
  },
  { root: false },
);
