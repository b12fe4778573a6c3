import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Chart, Testing } from 'cdk8s';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../cli/main';
import {
  MATERIAL_FILES,
  NodeHostsDaemonSet,
  RegistryAuth,
  RegistryChart,
  RegistryServer,
  ValidationError,
  createServerCertificate,
  generateMaterial,
  readMaterial,
} from '../lib';
import { CONTAINERD_HOSTS_DIR } from '../lib/material';
import { addMaterialCache } from '../lib/material-caches';
import { CACHES_FILE } from '../lib/material-caches-file';
import { S3_STORAGE_FILE } from '../lib/material-storage';
import { RegistryCache } from '../lib/registry-cache';
import { FIXTURE_USER, NOW, captureIo, materialTemplate, tempDir } from './cli/helpers';

/**
 * The bad-input suite: one row per hostile or mistaken input, through the CLI's main() in-process. Every
 * row states its exit code and a fragment of the message (which names the problem and the fix), and the
 * test asserts no stack trace and that every file under the workspace is unchanged: the material, and the
 * files outside it that a path flag points at (the --out file, the target of a link under --root).
 */

/** One workspace per row: `dir` is a copy of good material, `outside` holds files no command may touch. */
interface Workspace {
  readonly root: string;
  readonly dir: string;
  readonly outside: string;
  /** A file outside the material (outside/victim.txt) that links point at. */
  readonly victim: string;
}

interface CliCase {
  readonly name: string;
  readonly args: (ws: Workspace) => string[];
  readonly setup?: (ws: Workspace) => void;
  readonly stdin?: string | Uint8Array;
  readonly env?: (ws: Workspace) => Record<string, string>;
  /** @default 2 (bad input) */
  readonly code?: number;
  /** A fragment of stderr (or of stdout for doctor's FAIL lines). */
  readonly message: string | RegExp | ((ws: Workspace) => string);
  /** The clock the command sees. @default NOW */
  readonly now?: Date;
  /** Material to start from. @default good */
  readonly material?: 'good' | 'expired-ca' | 'expired-tls' | 'future' | 'short-ca' | 'docker.io cache';
}

/** A copy of `template` after `private-registry cache add docker.io`. */
function withDockerIoCache(template: { dir: string }): { dir: string } {
  const dir = path.join(tempDir('bad-input-template-'), 'registry');
  fs.cpSync(template.dir, dir, { recursive: true });
  addMaterialCache(dir, { upstream: 'docker.io' });
  return { dir };
}

const goodTemplate = materialTemplate();
const templates = {
  good: goodTemplate,
  // Made in 2015 with a one-year CA: both long expired at NOW (2025).
  'expired-ca': materialTemplate({ now: new Date('2015-01-01T00:00:00Z'), caValidityDays: 365 }),
  // A current CA (2020 + 10 years) with a 30-day server certificate that ended in 2020.
  'expired-tls': materialTemplate({ now: new Date('2020-01-01T00:00:00Z'), certValidityDays: 30 }),
  // Made by a machine whose clock said 2030: not valid yet at NOW.
  future: materialTemplate({ now: new Date('2030-01-01T00:00:00Z') }),
  // A CA with 20 days left at NOW.
  'short-ca': materialTemplate({ now: new Date(NOW.getTime() - 10 * 86_400_000), caValidityDays: 30 }),
  // Good material after `private-registry cache add docker.io` (port 5100).
  'docker.io cache': withDockerIoCache(goodTemplate),
};
// Another CA, another password: what a file copied from another clone holds.
const foreign = materialTemplate({ password: 'another-password-2' });

function newWorkspace(material: CliCase['material'] = 'good'): Workspace {
  const root = tempDir('bad-input-');
  const dir = path.join(root, 'registry');
  fs.cpSync(templates[material].dir, dir, { recursive: true });
  const outside = path.join(root, 'outside');
  fs.mkdirSync(outside);
  const victim = path.join(outside, 'victim.txt');
  fs.writeFileSync(victim, 'not yours\n');
  return { root, dir, outside, victim };
}

/**
 * Workspaces that rows without a setup left as they found them, by material. Every row asserts that its
 * command changed no entry under the root (snapshot() before and after), so a workspace that passed is, entry
 * for entry, the fresh copy the next row would get: it serves the next row of its material that has no setup,
 * which saves ~200 copies and removals of a material directory. A row with a setup always gets a copy of its
 * own, and a workspace whose row failed or changed it is never handed out again.
 */
const unchanged = new Map<CliCase['material'], Workspace>();

function workspaceFor(row: CliCase): Workspace {
  const material = row.material ?? 'good';
  const kept = row.setup === undefined ? unchanged.get(material) : undefined;
  if (kept === undefined) return newWorkspace(material);
  unchanged.delete(material);
  return kept;
}

/** After `row` passed: its workspace serves again if the row had no setup (nothing under it changed). */
function release(row: CliCase, ws: Workspace): void {
  if (row.setup === undefined) unchanged.set(row.material ?? 'good', ws);
}

/** Every entry under `root`: files by hash and mode, links by target, directories by mode. */
function snapshot(root: string): Record<string, string> {
  const entries: Record<string, string> = {};
  const walk = (current: string): void => {
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      const full = path.join(current, entry.name);
      const stat = fs.lstatSync(full);
      const mode = (stat.mode & 0o7777).toString(8);
      const key = path.relative(root, full);
      if (stat.isSymbolicLink()) entries[key] = `link -> ${fs.readlinkSync(full)}`;
      else if (stat.isDirectory()) {
        entries[`${key}/`] = mode;
        walk(full);
      } else entries[key] = `${createHash('sha256').update(fs.readFileSync(full)).digest('hex')} ${mode}`;
    }
  };
  walk(root);
  return entries;
}

const STACK_TRACE = /^\s+at .+(:\d+:\d+\)?|<anonymous>\)?)$/m;
const file = (ws: Workspace, relativePath: string): string => path.join(ws.dir, relativePath);
const replace = (relativePath: string, content: string | ((old: string) => string)) => (ws: Workspace) => {
  const target = file(ws, relativePath);
  const old = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  fs.writeFileSync(target, typeof content === 'string' ? content : content(old));
};
const yamlEdit = (edit: (text: string) => string) => replace(MATERIAL_FILES.registriesYaml, edit);

// ---------------------------------------------------------------------------------------------------------
// Flags and arguments, command by command.
const NEW = (ws: Workspace): string => path.join(ws.root, 'new-registry');
const initCase = (name: string, extra: string[], message: string | RegExp, stdin?: string | Uint8Array): CliCase => ({
  name: `init ${name}`,
  args: (ws) => ['init', '--dir', NEW(ws), ...extra],
  message,
  stdin,
});

const BAD_NAMES: [string, string, string][] = [
  ['empty', '', "must be non-empty with no ':' or whitespace"],
  ['with a colon', 'a:b', "must be non-empty with no ':' or whitespace"],
  ['with a space', 'a b', "must be non-empty with no ':' or whitespace"],
  ['with a tab', 'a\tb', "must be non-empty with no ':' or whitespace"],
  ['with a newline', 'a\nb', "must be non-empty with no ':' or whitespace"],
  ['starting with #', '#admin', "must not start with '#' (the registry reads that htpasswd line as a comment)"],
  ['with ESC', '\u001b[31mred', 'must not hold control characters, got "\\u001b[31mred"'],
  ['with NUL', 'a\u0000b', 'must not hold control characters'],
  ['with DEL', 'a\u007fb', 'must not hold control characters'],
  ['with a C1 control', 'a\u009bb', 'must not hold control characters'],
  ['with a lone surrogate', 'a\ud800b', 'must be valid Unicode'],
  ['of 256 bytes', 'x'.repeat(256), 'must be at most 255 bytes (it has 256)'],
  ['of 256 UTF-8 bytes in 128 characters', 'é'.repeat(128), 'must be at most 255 bytes (it has 256)'],
  ['of 70,000 characters', 'x'.repeat(70_000), 'must be at most 255 bytes (it has 70000)'],
];

const BAD_PASSWORDS: [string, string | Uint8Array, string][] = [
  ['empty', '', 'must not be empty'],
  ['only a newline', '\n', 'must not be empty'],
  ['of 73 bytes', `${'x'.repeat(73)}\n`, 'must be at most 72 bytes, got 73 bytes'],
  ['of 74 UTF-8 bytes in 37 characters', 'é'.repeat(37), 'must be at most 72 bytes, got 74 bytes'],
  ['with a byte 0xff', Buffer.from([0x61, 0xff, 0x62]), 'is not valid UTF-8 (byte 0xff at offset 1)'],
  ['in Latin-1', Buffer.from('caf\xe9\n', 'latin1'), 'is not valid UTF-8 (byte 0x0a at offset 4)'],
  ['cut inside a character', Buffer.from([0x61, 0xc3]), 'is not valid UTF-8 (the last character is cut short)'],
  ['with an overlong slash', Buffer.from([0xc0, 0xaf]), 'is not valid UTF-8 (byte 0xc0 at offset 0)'],
  ['with an encoded surrogate', Buffer.from([0xed, 0xa0, 0x80]), 'is not valid UTF-8 (byte 0xa0 at offset 1)'],
];

const BOOLEAN_VALUES = ['yes', '1', 'on', 'no', ''];

const flagCases: CliCase[] = [
  { name: 'no command', args: () => [], message: 'name a command' },
  { name: 'an unknown command', args: () => ['frobnicate'], message: 'unknown argument "frobnicate"' },
  {
    name: 'an unknown flag',
    args: (ws) => ['user', 'list', '--dir', ws.dir, '--verbose'],
    message: 'unknown flag --verbose',
  },
  {
    name: '--dir without a value',
    args: () => ['user', 'list', '--dir'],
    message: '--dir needs a value',
  },
  {
    name: '--dir ""',
    args: () => ['user', 'list', '--dir', ''],
    message: `--dir must name the material directory, got ""`,
  },
  ...BOOLEAN_VALUES.map(
    (value): CliCase => ({
      name: `user add --password-stdin=${JSON.stringify(value)}`,
      args: (ws) => ['user', 'add', 'bob', '--dir', ws.dir, `--password-stdin=${value}`],
      stdin: 'secret-password\n',
      message: `--password-stdin is a switch, got the value ${JSON.stringify(value)}`,
    }),
  ),
  {
    name: 'user add --no-password-stdin=yes',
    args: (ws) => ['user', 'add', 'bob', '--dir', ws.dir, '--no-password-stdin=yes'],
    message: '--no-password-stdin is a switch, got the value "yes"',
  },
  {
    name: 'user add --passwordStdin=yes (the camelCase spelling)',
    args: (ws) => ['user', 'add', 'bob', '--dir', ws.dir, '--passwordStdin=yes'],
    message: 'unknown flag --passwordStdin',
  },
  {
    name: 'init --force=maybe',
    args: (ws) => ['init', '--dir', ws.dir, '--force=maybe'],
    message: '--force is a switch',
  },
  {
    name: 'certs renew --rotate-ca=yes',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir, '--rotate-ca=yes'],
    message: '--rotate-ca is a switch',
  },
  {
    name: 'certs show --json=1',
    args: (ws) => ['certs', 'show', '--dir', ws.dir, '--json=1'],
    message: '--json is a switch',
  },
  { name: 'doctor --live=yes', args: (ws) => ['doctor', '--dir', ws.dir, '--live=yes'], message: '--live is a switch' },
  {
    name: 'trust --write=yes',
    args: (ws) => ['trust', '--dir', ws.dir, '--write=yes'],
    message: '--write is a switch',
  },
  {
    name: 'k3d-config --print-command=yes',
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--print-command=yes'],
    message: '--print-command is a switch',
  },
  {
    name: 'doctor --fix-hosts-dir=please',
    args: (ws) => ['doctor', '--dir', ws.dir, '--fix-hosts-dir=please'],
    message: '--fix-hosts-dir is a switch',
  },

  // init
  initCase('--node-port 80', ['--node-port', '80'], '--node-port must be an integer in 30000-32767, got 80'),
  initCase('--node-port 0', ['--node-port', '0'], '--node-port must be an integer in 30000-32767, got 0'),
  initCase('--node-port 70000', ['--node-port', '70000'], 'got 70000: pick a port in the NodePort range'),
  initCase('--node-port 30000.5', ['--node-port', '30000.5'], 'got 30000.5'),
  initCase('--node-port abc', ['--node-port', 'abc'], '--node-port must be a number, got "abc"'),
  initCase('--hostname ""', ['--hostname', ''], '--hostname must be a DNS hostname'),
  initCase('--hostname a..b', ['--hostname', 'a..b'], '--hostname must be a DNS hostname'),
  initCase('--hostname=-bad.local', ['--hostname=-bad.local'], '--hostname must be a DNS hostname'),
  initCase(
    '--hostname with a 64-character label',
    ['--hostname', `${'a'.repeat(64)}.local`],
    '--hostname must be a DNS hostname',
  ),
  initCase('--hostname localhost', ['--hostname', 'localhost'], "--hostname must be a name of the registry's own"),
  initCase('--hostname 10.0.0.1', ['--hostname', '10.0.0.1'], "--hostname must be a name of the registry's own"),
  initCase('--ca-days 0', ['--ca-days', '0'], '--ca-days must be an integer in 1-36500, got 0'),
  initCase('--ca-days -5', ['--ca-days', '-5'], '--ca-days must be an integer in 1-36500, got -5'),
  initCase('--ca-days 36501', ['--ca-days', '36501'], '--ca-days must be an integer in 1-36500, got 36501'),
  initCase('--ca-days 1.5', ['--ca-days', '1.5'], '--ca-days must be an integer in 1-36500, got 1.5'),
  initCase('--cert-days 0', ['--cert-days', '0'], '--cert-days must be an integer in 1-3650, got 0'),
  initCase('--cert-days 3651', ['--cert-days', '3651'], '--cert-days must be an integer in 1-3650, got 3651'),
  initCase('--cert-days abc', ['--cert-days', 'abc'], '--cert-days must be a number, got "abc"'),
  initCase(
    '--cert-days past the CA (--ca-days 10 --cert-days 20)',
    ['--ca-days', '10', '--cert-days', '20'],
    "--cert-days must not reach past the CA's end on 2025-01-12T03:04:05Z, 10 days from now, got 20: give at most 10 days",
  ),
  ...BAD_NAMES.map(([what, name, message]) => initCase(`--user ${what}`, ['--user', name], `--user ${message}`)),
  ...BAD_PASSWORDS.map(([what, stdin, message]) =>
    initCase(`--password-stdin with a password ${what}`, ['--password-stdin'], message, stdin),
  ),
  {
    name: 'init over existing material without --force',
    args: (ws) => ['init', '--dir', ws.dir],
    message: 'already exists: keep it (private-registry doctor checks it), or pass --force',
  },
  {
    name: 'init --force --dir <a regular file>',
    setup: (ws) => fs.writeFileSync(path.join(ws.root, 'notes.txt'), 'my notes\n'),
    args: (ws) => ['init', '--force', '--dir', path.join(ws.root, 'notes.txt')],
    message: 'notes.txt is not a directory: point --dir (REGISTRY_MATERIAL_DIR) at the material directory',
  },
  {
    name: 'init --force --dir <a directory that holds no material>',
    args: (ws) => ['init', '--force', '--dir', ws.outside],
    message: 'holds no material (none of',
  },
  {
    name: 'init --dir <a dangling symbolic link>',
    setup: (ws) => fs.symlinkSync(path.join(ws.root, 'gone'), path.join(ws.root, 'link')),
    args: (ws) => ['init', '--dir', path.join(ws.root, 'link')],
    message: (ws) => `link is a symbolic link to ${path.join(ws.root, 'gone')}, which does not exist`,
  },
  {
    name: 'init --dir under a regular file',
    setup: (ws) => fs.writeFileSync(path.join(ws.root, 'plain'), 'x'),
    args: (ws) => ['init', '--dir', path.join(ws.root, 'plain', 'registry')],
    message: 'plain: it is not a directory (EEXIST): check the paths you gave',
  },

  // user add / remove / verify / list
  ...BAD_NAMES.map(
    ([what, name, message]): CliCase => ({
      name: `user add a name ${what}`,
      args: (ws) => ['user', 'add', name, '--dir', ws.dir],
      message: `NAME ${message}`,
    }),
  ),
  ...BAD_PASSWORDS.map(
    ([what, stdin, message]): CliCase => ({
      name: `user add --password-stdin with a password ${what}`,
      args: (ws) => ['user', 'add', 'bob', '--dir', ws.dir, '--password-stdin'],
      stdin,
      message,
    }),
  ),
  {
    name: 'user add an existing user',
    args: (ws) => ['user', 'add', FIXTURE_USER.username, '--dir', ws.dir],
    message: 'user "registry" already exists',
  },
  {
    name: 'user add without a name',
    args: (ws) => ['user', 'add', '--dir', ws.dir],
    message: 'missing <name>',
  },
  {
    name: 'user add with two names',
    args: (ws) => ['user', 'add', 'a', 'b', '--dir', ws.dir],
    message: 'unknown argument "b"',
  },
  {
    name: 'user remove an unknown user',
    args: (ws) => ['user', 'remove', 'nobody', '--dir', ws.dir],
    message: 'no user "nobody" in',
  },
  {
    name: "user remove the nodes' user without --node-user",
    args: (ws) => ['user', 'remove', FIXTURE_USER.username, '--dir', ws.dir],
    message: 'the nodes pull with it',
  },
  {
    name: 'user remove --node-user without --password-stdin',
    args: (ws) => ['user', 'remove', FIXTURE_USER.username, '--node-user', 'other', '--dir', ws.dir],
    message: '--node-user needs --password-stdin',
  },
  {
    name: 'user remove --node-user naming the removed user',
    args: (ws) => ['user', 'remove', 'registry', '--node-user', 'registry', '--password-stdin', '--dir', ws.dir],
    stdin: 'x\n',
    message: '--node-user OTHER must name a user other than the one being removed',
  },
  {
    name: 'user remove --node-user naming no user',
    args: (ws) => ['user', 'remove', 'registry', '--node-user', 'ghost', '--password-stdin', '--dir', ws.dir],
    stdin: 'x\n',
    message: 'no user "ghost" in',
  },
  {
    name: 'user remove --node-user with invalid UTF-8 on stdin',
    args: (ws) => ['user', 'remove', 'registry', '--node-user', 'ghost', '--password-stdin', '--dir', ws.dir],
    stdin: Buffer.from([0xff]),
    message: 'is not valid UTF-8',
  },
  {
    name: 'user verify without --password-stdin',
    args: (ws) => ['user', 'verify', 'registry', '--dir', ws.dir],
    message: 'missing --password-stdin',
  },
  {
    name: 'user verify with invalid UTF-8 on stdin',
    args: (ws) => ['user', 'verify', 'registry', '--dir', ws.dir, '--password-stdin'],
    stdin: Buffer.from([0x66, 0x80]),
    message: 'is not valid UTF-8 (byte 0x80 at offset 1)',
  },
  {
    name: 'user verify an unknown user',
    args: (ws) => ['user', 'verify', 'ghost', '--dir', ws.dir, '--password-stdin'],
    stdin: 'x\n',
    message: 'no user "ghost" in',
  },
  { name: 'user without a subcommand', args: (ws) => ['user', '--dir', ws.dir], message: 'name a user command' },

  // certs
  {
    name: 'certs renew --cert-days 0',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir, '--cert-days', '0'],
    message: '--cert-days must be an integer in 1-3650, got 0',
  },
  {
    name: 'certs renew --cert-days abc',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir, '--cert-days', 'abc'],
    message: '--cert-days must be a number, got "abc"',
  },
  {
    name: 'certs renew --cert-days 3651',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir, '--cert-days', '3651'],
    message: 'got 3651',
  },
  {
    name: "certs renew --cert-days past the CA's end",
    material: 'short-ca',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir, '--cert-days', '60'],
    message:
      "--cert-days must not reach past the CA's end on 2025-01-22T03:04:05Z, 20 days from now, got 60: give at most 20 days, or make a new CA first (private-registry certs renew --rotate-ca)",
  },
  {
    name: 'certs renew --ca-days without --rotate-ca',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir, '--ca-days', '100'],
    message: '--ca-days only applies with --rotate-ca',
  },
  {
    name: 'certs renew --rotate-ca --ca-days 0',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir, '--rotate-ca', '--ca-days', '0'],
    message: '--ca-days must be an integer in 1-36500, got 0',
  },
  {
    name: 'certs renew --rotate-ca --cert-days past the new CA',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir, '--rotate-ca', '--ca-days', '30', '--cert-days', '31'],
    message: '--cert-days must not reach past the CA',
  },
  {
    name: 'certs renew from an expired CA without --rotate-ca',
    material: 'expired-ca',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir],
    message:
      'ca.crt expired on 2016-01-01T00:00:00Z, it is now 2025-01-02T03:04:05Z: make a new CA and server certificate: private-registry certs renew --rotate-ca',
  },
  {
    name: 'certs renew from a CA that is not valid yet',
    material: 'future',
    args: (ws) => ['certs', 'renew', '--dir', ws.dir],
    message: "ca.crt is not valid before 2029-12-31T23:55:00Z (is this machine's clock right?)",
  },
  { name: 'certs without a subcommand', args: (ws) => ['certs', '--dir', ws.dir], message: 'name a certs command' },

  // k3d-config
  {
    name: 'k3d-config --name Bad_Name',
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--name', 'Bad_Name'],
    message: '--name must be a DNS label',
  },
  {
    name: 'k3d-config --servers 0',
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--servers', '0'],
    message: '--servers must be an integer in 1-99, got 0',
  },
  {
    name: 'k3d-config --agents -1',
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--agents', '-1'],
    message: '--agents must be an integer in 0-99, got -1',
  },
  {
    name: 'k3d-config --agents many',
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--agents', 'many'],
    message: '--agents must be a number, got "many"',
  },
  {
    name: 'k3d-config --out <an existing file>',
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--out', ws.victim],
    message: 'victim.txt already exists: remove it first to regenerate it, or pick another file',
  },
  {
    name: 'k3d-config --out <a link to a file outside>',
    setup: (ws) => fs.symlinkSync(ws.victim, path.join(ws.root, 'k3d.yaml')),
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--out', path.join(ws.root, 'k3d.yaml')],
    message: 'k3d.yaml already exists',
  },
  {
    name: 'k3d-config --out <a dangling link>',
    setup: (ws) => fs.symlinkSync(path.join(ws.outside, 'new.yaml'), path.join(ws.root, 'k3d.yaml')),
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--out', path.join(ws.root, 'k3d.yaml')],
    message: 'k3d.yaml already exists',
  },
  {
    name: 'k3d-config --out <a directory>',
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--out', ws.outside],
    message: 'is a directory: name a file',
  },
  {
    name: 'k3d-config --out <a missing directory>/k3d.yaml',
    args: (ws) => ['k3d-config', '--dir', ws.dir, '--out', path.join(ws.root, 'nope', 'k3d.yaml')],
    message: 'does not exist: create it or write somewhere else',
  },

  // trust
  {
    name: 'trust --write --root <a root with a link inside pointing outside>',
    setup: (ws) => {
      fs.mkdirSync(path.join(ws.root, 'image'));
      fs.symlinkSync(ws.outside, path.join(ws.root, 'image', 'etc'));
    },
    args: (ws) => ['trust', '--dir', ws.dir, '--write', '--root', path.join(ws.root, 'image')],
    message: (ws) =>
      `--root ${path.join(ws.root, 'image')} holds a symbolic link, ${path.join(ws.root, 'image', 'etc')} -> ${ws.outside}: writing through it could put files outside`,
  },
  {
    name: 'trust --write --root <a root with a link deeper inside>',
    setup: (ws) => {
      fs.mkdirSync(path.join(ws.root, 'image', 'etc'), { recursive: true });
      fs.symlinkSync(ws.outside, path.join(ws.root, 'image', 'etc', 'docker'));
    },
    args: (ws) => ['trust', '--dir', ws.dir, '--write', '--root', path.join(ws.root, 'image')],
    message: 'holds a symbolic link',
  },

  // cache
  ...(
    [
      [
        'dockerhub',
        [],
        'UPSTREAM must be one of docker.io, ghcr.io, quay.io, registry.k8s.io or an https:// URL, got "dockerhub": write it as https://dockerhub',
      ],
      ['http://registry.example.com', [], 'UPSTREAM must use https://, got "http://registry.example.com"'],
      ['https://registry.example.com/v2/x', [], 'UPSTREAM must be only https://host[:port]'],
      [
        'docker.io',
        ['--port', '5000'],
        "'caches[0].port' is 5000, which is the registry's port: pick another port for the docker.io cache, e.g. 5100",
      ],
      ['docker.io', ['--port', '5001'], "which is the registry's metrics port"],
      ['docker.io', ['--port', '70000'], '--port must be an integer in 1-65535, got 70000'],
      ['docker.io', ['--port', 'many'], '--port must be a number, got "many"'],
      ['docker.io', ['--ttl', 'forever'], '--ttl must be a duration like "168h", "24h" or "90m", got "forever"'],
      ['docker.io', ['--ttl', '0h'], '--ttl must be a duration'],
      // Zero however written: registry 3 reads a TTL of 0 as "never expire".
      ...['0h0m', '0m0s', '0.0h', '999ms'].map(
        (ttl) => ['docker.io', ['--ttl', ttl], `got "${ttl}": under 1s is taken as 0`] as const,
      ),
      ['docker.io', ['--ttl', '9999999999h'], 'got "9999999999h": over 2562047h overflows Go\'s time.Duration'],
      ['docker.io', ['--ttl', '2562047h0m1s'], "over 2562047h overflows Go's time.Duration"],
      ['docker.io', ['--remote-url', 'ftp://mirror.example.com'], '--remote-url must use https://'],
      [
        'docker.io',
        ['--remote-url', 'https://me:s3cr3t-token@mirror.example.com'],
        /^(?![\s\S]*s3cr3t)[\s\S]*--remote-url must not hold credentials, got "https:\/\/<credentials>@mirror\.example\.com": give the address alone, and the account with private-registry cache login/,
      ],
      [
        'https://me:s3cr3t-token@registry.example.com',
        [],
        /^(?![\s\S]*s3cr3t)[\s\S]*UPSTREAM must not hold credentials, got "https:\/\/<credentials>@registry\.example\.com"/,
      ],
      [
        'http://me:s3cr3t-token@registry.example.com',
        [],
        /^(?![\s\S]*s3cr3t)[\s\S]*UPSTREAM must use https:\/\/, got "http:\/\/<credentials>@registry\.example\.com"/,
      ],
      // Refused before anything is written: the caches file's reader refuses an IPv6 literal as a name.
      [
        'https://[fd00::1]:5000',
        [],
        'UPSTREAM must name the registry by a hostname, got the IPv6 address "https://[fd00::1]:5000": image references cannot name a registry by an IPv6 address; give it a DNS name',
      ],
      // The registry's own endpoint: its cache would take over the registry's own mirror.
      [
        'https://container-registry.local:5000',
        [],
        'UPSTREAM must not be the registry itself, got "container-registry.local:5000" (on its hostname container-registry.local)',
      ],
      ['https://container-registry.local:5300', [], 'UPSTREAM must not be the registry itself'],
      ['https://localhost.:5000', [], 'UPSTREAM must not be localhost or a loopback address'],
      ['https://0.0.0.0:5000', [], 'UPSTREAM must not be localhost or a loopback address'],
      ['docker.io', ['--remote-url', 'https://[::]:5000'], '--remote-url must not be localhost or a loopback address'],
      // Accepted once, then refused by every reader of the caches file: refused up front now.
      ['https://myregistry:5000', [], 'UPSTREAM must be a registry name as image references write it'],
      ['docker.io', ['--remote-url', 'not a url'], '--remote-url must be an https:// URL like'],
      [
        'Docker Hub',
        ['--remote-url', 'https://registry-1.docker.io'],
        'UPSTREAM must be a registry name as image references write it',
      ],
    ] as const
  ).map(
    ([upstream, extra, message]): CliCase => ({
      name: `cache add ${upstream} ${extra.join(' ')}`.trim(),
      args: (ws) => ['cache', 'add', upstream, ...extra, '--dir', ws.dir],
      message,
    }),
  ),
  {
    name: 'cache add docker.io a second time',
    material: 'docker.io cache',
    args: (ws) => ['cache', 'add', 'docker.io', '--port', '5200', '--dir', ws.dir],
    message:
      'there is already a cache for "docker.io": one upstream has one cache; remove it first (private-registry cache rm docker.io)',
  },
  {
    name: 'cache add ghcr.io --port <the docker.io cache port>',
    material: 'docker.io cache',
    args: (ws) => ['cache', 'add', 'ghcr.io', '--port', '5100', '--dir', ws.dir],
    message: "'caches[1].port' is 5100, which the docker.io cache already uses",
  },
  {
    name: 'cache add https://a-b.io:5000 after https://a.b.io:5000 (one name in Kubernetes)',
    setup: (ws) => void addMaterialCache(ws.dir, { upstream: 'https://a.b.io:5000' }),
    args: (ws) => ['cache', 'add', 'https://a-b.io:5000', '--dir', ws.dir],
    message: `'caches[1]' ("a-b.io:5000") and 'caches[0]' ("a.b.io:5000") would both be named "a-b-io-5000" in Kubernetes objects and labels: keep one of them, or name the other upstream differently`,
  },
  {
    name: 'cache add (no upstream)',
    args: (ws) => ['cache', 'add', '--dir', ws.dir],
    message: 'missing <upstream>',
  },
  {
    name: 'cache rm <an upstream with no cache>',
    material: 'docker.io cache',
    args: (ws) => ['cache', 'rm', 'quay.io', '--dir', ws.dir],
    message: 'no cache for "quay.io" in',
  },
  {
    name: 'cache logout <with no caches at all>',
    args: (ws) => ['cache', 'logout', 'docker.io', '--dir', ws.dir],
    message: 'there are no caches; add one with private-registry cache add docker.io',
  },
  ...(
    [
      [
        'empty token on stdin',
        ['--username', 'me', '--password-stdin'],
        '\n',
        'the upstream token or password read from stdin is empty',
      ],
      ['no --password-stdin', ['--username', 'me'], 'token', 'missing --password-stdin'],
      [
        '--password-stdin=false',
        ['--username', 'me', '--password-stdin=false'],
        'token',
        "--password-stdin is required: the upstream's token or password is read from stdin only",
      ],
      ['--password-stdin=yes', ['--username', 'me', '--password-stdin=yes'], 'token', '--password-stdin is a switch'],
      [
        'a user name with a colon',
        ['--username', 'me:you', '--password-stdin'],
        'token',
        "--username must be non-empty with no ':' or whitespace",
      ],
      ['no --username', ['--password-stdin'], 'token', 'missing --username'],
      [
        'a token that is not UTF-8',
        ['--username', 'me', '--password-stdin'],
        new Uint8Array([0x74, 0xff, 0x6b]),
        'is not valid UTF-8 (byte 0xff at offset 1)',
      ],
    ] as const
  ).map(
    ([what, extra, stdin, message]): CliCase => ({
      name: `cache login docker.io: ${what}`,
      material: 'docker.io cache',
      args: (ws) => ['cache', 'login', 'docker.io', ...extra, '--dir', ws.dir],
      stdin,
      message,
    }),
  ),
  {
    name: 'cache login <an upstream with no cache>',
    material: 'docker.io cache',
    args: (ws) => ['cache', 'login', 'ghcr.io', '--username', 'me', '--password-stdin', '--dir', ws.dir],
    stdin: 'token\n',
    message: 'no cache for "ghcr.io" in',
  },
  {
    name: 'init --cache dockerhub',
    args: (ws) => ['init', '--dir', NEW(ws), '--cache', 'dockerhub'],
    message: '--cache must be one of docker.io, ghcr.io, quay.io, registry.k8s.io or an https:// URL, got "dockerhub"',
  },
  {
    name: 'init --cache https://[fd00::1]:5000',
    args: (ws) => ['init', '--dir', NEW(ws), '--cache', 'https://[fd00::1]:5000'],
    message: '--cache must name the registry by a hostname, got the IPv6 address',
  },
  {
    name: 'init --cache <the registry itself>',
    args: (ws) => ['init', '--dir', NEW(ws), '--cache', 'https://container-registry.local:5000'],
    message: 'must not be the registry itself, got "container-registry.local:5000"',
  },
  {
    name: 'init --cache docker.io --cache docker.io',
    args: (ws) => ['init', '--dir', NEW(ws), '--cache', 'docker.io', '--cache', 'docker.io'],
    message: 'there is already a cache for "docker.io"',
  },

  // doctor
  {
    name: 'doctor --dist <a regular file>',
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', ws.victim],
    message: 'victim.txt is not a directory: point it at the directory synth writes',
  },
  { name: 'doctor --url ftp://x', args: (ws) => ['doctor', '--dir', ws.dir, '--url', 'ftp://x'], message: '--url' },
];

// ---------------------------------------------------------------------------------------------------------
// The material directory, named by --dir or REGISTRY_MATERIAL_DIR, for every command that reads it.
const READERS: [string, string[]][] = [
  ['user list', ['user', 'list']],
  ['user add', ['user', 'add', 'bob']],
  ['certs show', ['certs', 'show']],
  ['certs renew', ['certs', 'renew']],
  ['k3d-config', ['k3d-config']],
  ['trust', ['trust']],
  ['doctor', ['doctor']],
];
const BAD_DIRS: {
  what: string;
  setup?: (ws: Workspace) => void;
  dir: (ws: Workspace) => string;
  message: (ws: Workspace) => string;
}[] = [
  {
    what: 'a missing directory',
    dir: (ws) => path.join(ws.root, 'missing'),
    message: (ws) =>
      `no material directory at ${path.join(ws.root, 'missing')}: create it with "private-registry init"`,
  },
  {
    what: 'a regular file',
    dir: (ws) => ws.victim,
    message: (ws) => `${ws.victim} is not a directory: point --dir (REGISTRY_MATERIAL_DIR) at the material directory`,
  },
  {
    what: 'a dangling symbolic link',
    setup: (ws) => fs.symlinkSync(path.join(ws.root, 'gone'), path.join(ws.root, 'link')),
    dir: (ws) => path.join(ws.root, 'link'),
    message: (ws) =>
      `is a symbolic link to ${path.join(ws.root, 'gone')}, which does not exist: restore what it points to, or remove the link`,
  },
];
const dirCases: CliCase[] = READERS.flatMap(([command, args]) => [
  ...BAD_DIRS.map(
    (bad): CliCase => ({
      name: `${command} --dir <${bad.what}>`,
      setup: bad.setup,
      args: (ws) => [...args, '--dir', bad.dir(ws)],
      message: bad.message,
    }),
  ),
  ...BAD_DIRS.map(
    (bad): CliCase => ({
      name: `${command} with REGISTRY_MATERIAL_DIR=<${bad.what}>`,
      setup: bad.setup,
      env: (ws) => ({ REGISTRY_MATERIAL_DIR: bad.dir(ws) }),
      args: () => args,
      message: bad.message,
    }),
  ),
  {
    name: `${command} with REGISTRY_MATERIAL_DIR=""`,
    env: () => ({ REGISTRY_MATERIAL_DIR: '' }),
    args: () => args,
    message:
      'must name the material directory, got "": give a path like "registry" (an empty REGISTRY_MATERIAL_DIR counts too: unset it)',
  },
]);

// ---------------------------------------------------------------------------------------------------------
// Every material file broken, read by k3d-config (which needs the whole material to be sound).
const foreignFile = (relativePath: string): string => fs.readFileSync(path.join(foreign.dir, relativePath), 'utf8');
const PEM_FILES = [
  MATERIAL_FILES.caCertificate,
  MATERIAL_FILES.caKey,
  MATERIAL_FILES.tlsCertificate,
  MATERIAL_FILES.tlsKey,
];
const ALL_READ_FILES = [...PEM_FILES, MATERIAL_FILES.htpasswd, MATERIAL_FILES.registriesYaml];
const isKey = (relativePath: string): boolean => relativePath.endsWith('.key');
const pemMessage = (relativePath: string): RegExp =>
  new RegExp(
    `${relativePath.replace('.', '\\.')} is not a PEM (X\\.509 RSA certificate|RSA private key) .*: restore it or create new material`,
  );

const materialCases: CliCase[] = [
  ...ALL_READ_FILES.flatMap((relativePath): CliCase[] => [
    {
      name: `${relativePath} missing`,
      setup: (ws) => fs.rmSync(file(ws, relativePath)),
      args: (ws) => ['k3d-config', '--dir', ws.dir],
      message: `${relativePath} is missing or unreadable: restore it from a backup`,
    },
    {
      name: `${relativePath} a directory`,
      setup: (ws) => {
        fs.rmSync(file(ws, relativePath));
        fs.mkdirSync(file(ws, relativePath));
      },
      args: (ws) => ['k3d-config', '--dir', ws.dir],
      message: `${relativePath} is missing or unreadable`,
    },
    {
      name: `${relativePath} a dangling link`,
      setup: (ws) => {
        fs.rmSync(file(ws, relativePath));
        fs.symlinkSync(path.join(ws.root, 'gone'), file(ws, relativePath));
      },
      args: (ws) => ['k3d-config', '--dir', ws.dir],
      message: `${relativePath} is missing or unreadable`,
    },
  ]),
  ...PEM_FILES.flatMap((relativePath): CliCase[] => [
    {
      name: `${relativePath} empty`,
      setup: replace(relativePath, ''),
      args: (ws) => ['k3d-config', '--dir', ws.dir],
      message: pemMessage(relativePath),
    },
    {
      name: `${relativePath} truncated to half`,
      setup: replace(relativePath, (old) => old.slice(0, old.length / 2)),
      args: (ws) => ['k3d-config', '--dir', ws.dir],
      message: pemMessage(relativePath),
    },
    {
      name: `${relativePath} from another material`,
      setup: replace(relativePath, foreignFile(relativePath)),
      args: (ws) => ['k3d-config', '--dir', ws.dir],
      message: isKey(relativePath) ? 'does not belong to' : /does not belong to|is not signed by/,
    },
    {
      name: `${relativePath} swapped with its pair`,
      setup: (ws) => {
        const pairs: Record<string, string> = {
          [MATERIAL_FILES.caCertificate]: MATERIAL_FILES.caKey,
          [MATERIAL_FILES.caKey]: MATERIAL_FILES.caCertificate,
          [MATERIAL_FILES.tlsCertificate]: MATERIAL_FILES.tlsKey,
          [MATERIAL_FILES.tlsKey]: MATERIAL_FILES.tlsCertificate,
        };
        const pair = pairs[relativePath];
        fs.writeFileSync(file(ws, relativePath), fs.readFileSync(file(ws, pair)));
      },
      args: (ws) => ['k3d-config', '--dir', ws.dir],
      message: pemMessage(relativePath),
    },
  ]),
  {
    name: 'ca.crt and tls.crt swapped',
    setup: (ws) => {
      const ca = fs.readFileSync(file(ws, MATERIAL_FILES.caCertificate));
      fs.copyFileSync(file(ws, MATERIAL_FILES.tlsCertificate), file(ws, MATERIAL_FILES.caCertificate));
      fs.writeFileSync(file(ws, MATERIAL_FILES.tlsCertificate), ca);
    },
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'does not belong to',
  },
  {
    name: 'the whole certs/ from another material',
    setup: (ws) => {
      for (const relativePath of PEM_FILES) fs.writeFileSync(file(ws, relativePath), foreignFile(relativePath));
      for (const relativePath of [MATERIAL_FILES.htpasswd, MATERIAL_FILES.registriesYaml])
        fs.writeFileSync(file(ws, relativePath), 'x');
    },
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'htpasswd line 1 must be "user:<bcrypt hash>"',
  },
  // Certificates out of their validity, for every command that deploys or trusts them.
  ...(['expired-ca', 'expired-tls', 'future'] as const).flatMap((material) =>
    [['k3d-config'], ['trust']].map(
      (args): CliCase => ({
        name: `${args[0]} with ${material} material`,
        material,
        args: (ws) => [...args, '--dir', ws.dir],
        message:
          material === 'expired-ca'
            ? 'ca.crt expired on 2016-01-01T00:00:00Z, it is now 2025-01-02T03:04:05Z: make a new CA and server certificate: private-registry certs renew --rotate-ca'
            : material === 'expired-tls'
              ? 'tls.crt expired on 2020-01-31T00:00:00Z, it is now 2025-01-02T03:04:05Z: issue a new server certificate: private-registry certs renew'
              : "ca.crt is not valid before 2029-12-31T23:55:00Z (is this machine's clock right?)",
      }),
    ),
  ),
  // htpasswd.
  {
    name: 'htpasswd empty',
    setup: replace(MATERIAL_FILES.htpasswd, ''),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'htpasswd has no users: nobody could log in to the registry',
  },
  {
    name: 'htpasswd only comments',
    setup: replace(MATERIAL_FILES.htpasswd, '# nobody\n'),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'htpasswd has no users',
  },
  {
    name: 'htpasswd truncated mid-hash',
    setup: replace(MATERIAL_FILES.htpasswd, (old) => old.slice(0, 30)),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'htpasswd line 1 must be "user:<bcrypt hash>"',
  },
  {
    name: 'htpasswd with an apr1 hash',
    setup: replace(MATERIAL_FILES.htpasswd, 'registry:$apr1$abc$def\n'),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'the registry rejects other hash types',
  },
  {
    name: 'htpasswd repeating a user',
    setup: replace(MATERIAL_FILES.htpasswd, (old) => old + old),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'line 2 repeats user "registry"',
  },
  {
    name: 'htpasswd with an ESC in a name (user list must not print it)',
    setup: replace(MATERIAL_FILES.htpasswd, (old) => `${old}\u001b[2Jx${old.slice(old.indexOf(':')).trimEnd()}\n`),
    args: (ws) => ['user', 'list', '--dir', ws.dir],
    message:
      'htpasswd line 2: the user name must not hold control characters, got "\\u001b[2Jx": delete that line by hand',
  },
  {
    name: 'htpasswd with a 70,000-character name',
    setup: replace(
      MATERIAL_FILES.htpasswd,
      (old) => `${old}${'n'.repeat(70_000)}${old.slice(old.indexOf(':')).trimEnd()}\n`,
    ),
    args: (ws) => ['user', 'list', '--dir', ws.dir],
    message: 'must be at most 255 bytes (it has 70000)',
  },
  {
    name: 'doctor on an htpasswd with a 70,000-character name (the registry would answer 400 to everyone)',
    setup: replace(
      MATERIAL_FILES.htpasswd,
      (old) => `${old}${'n'.repeat(70_000)}${old.slice(old.indexOf(':')).trimEnd()}\n`,
    ),
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: 'FAIL  htpasswd:',
  },
  // registries.yaml.
  {
    name: 'registries.yaml empty',
    setup: replace(MATERIAL_FILES.registriesYaml, ''),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'registries.yaml',
  },
  {
    name: 'registries.yaml not YAML',
    setup: replace(MATERIAL_FILES.registriesYaml, 'mirrors: [\n'),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'registries.yaml',
  },
  {
    name: 'registries.yaml truncated to half',
    setup: yamlEdit((old) => old.slice(0, old.length / 2)),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'registries.yaml',
  },
  {
    name: 'registries.yaml with NodePort 80 (blamed on the file, not on a nodePort prop)',
    setup: yamlEdit((old) => old.replace(/localhost:31113/g, 'localhost:80')),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message:
      'registries.yaml: its mirror "localhost:80" and endpoint "container-registry.local:5000" give \'nodePort\' must be an integer in 30000-32767, got 80: recreate the material',
  },
  {
    name: 'registries.yaml with port 0 for the endpoint',
    setup: yamlEdit((old) => old.replace(/container-registry\.local:5000/g, 'container-registry.local:0')),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: "'registryPort' must be an integer in 1-65535, got 0",
  },
  {
    name: 'registries.yaml with an empty endpoint list (not blamed on configs.auth)',
    setup: yamlEdit((old) => old.replace(/endpoint:\n(\s+- .*\n)+/g, 'endpoint: []\n')),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message:
      'registries.yaml gives the mirror "localhost:31113" no endpoint: the nodes would not know where the registry is',
  },
  {
    name: 'registries.yaml with auth: null',
    setup: yamlEdit((old) => old.replace(/auth:\n(\s+(username|password): .*\n)+/, 'auth: null\n')),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'registries.yaml',
  },
  {
    name: 'registries.yaml with configs: null',
    setup: yamlEdit((old) => old.replace(/configs:\n[\s\S]*$/, 'configs: null\n')),
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'registries.yaml',
  },
  {
    name: 'registries.yaml from another material with the same names',
    setup: replace(MATERIAL_FILES.registriesYaml, foreignFile(MATERIAL_FILES.registriesYaml)),
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: 'does not match',
  },
  // The caches file (caches/upstreams.json), read by every command that reads the material.
  ...(
    [
      ['not JSON', '{ caches: ', 'is not JSON'],
      ['a list', '[]', 'must be a JSON object { "caches": [...] }'],
      [
        'an unknown field',
        JSON.stringify({
          caches: [
            { upstream: 'docker.io', remoteUrl: 'https://registry-1.docker.io', port: 5100, ttl: '168h', token: 'x' },
          ],
        }),
        'caches[0] has unknown fields token',
      ],
      [
        'a port as a string',
        JSON.stringify({
          caches: [{ upstream: 'docker.io', remoteUrl: 'https://registry-1.docker.io', port: '5100', ttl: '168h' }],
        }),
        'caches[0].port must be a number',
      ],
      [
        'a password as a number',
        JSON.stringify({
          caches: [
            {
              upstream: 'docker.io',
              remoteUrl: 'https://registry-1.docker.io',
              port: 5100,
              ttl: '168h',
              credentials: { username: 'u', password: 12345678 },
            },
          ],
        }),
        'caches[0].credentials need a non-empty username and password',
      ],
      [
        'an http remoteUrl',
        JSON.stringify({
          caches: [{ upstream: 'docker.io', remoteUrl: 'http://registry-1.docker.io', port: 5100, ttl: '168h' }],
        }),
        'caches[0] holds a bad setting (remoteUrl must use https://',
      ],
      [
        'two caches with one name in Kubernetes',
        JSON.stringify({
          caches: [
            { upstream: 'docker.io', remoteUrl: 'https://registry-1.docker.io', port: 5100, ttl: '168h' },
            { upstream: 'a.b.io:5000', remoteUrl: 'https://a.b.io:5000', port: 5104, ttl: '168h' },
            { upstream: 'a-b.io:5000', remoteUrl: 'https://a-b.io:5000', port: 5105, ttl: '168h' },
          ],
        }),
        'holds clashing caches (caches[2] ("a-b.io:5000") and caches[1] ("a.b.io:5000") would both be named "a-b-io-5000"',
      ],
      [
        'a TTL of 0',
        JSON.stringify({
          caches: [{ upstream: 'docker.io', remoteUrl: 'https://registry-1.docker.io', port: 5100, ttl: '0h0m' }],
        }),
        'caches[0] holds a bad setting (ttl must be a duration',
      ],
      [
        'a port registries.yaml does not mirror',
        JSON.stringify({
          caches: [{ upstream: 'docker.io', remoteUrl: 'https://registry-1.docker.io', port: 5107, ttl: '168h' }],
        }),
        'disagree: the docker.io cache is on port 5107, registries.yaml mirrors it to port 5100',
      ],
    ] as const
  ).map(
    ([what, content, message]): CliCase => ({
      name: `caches file with ${what}`,
      material: 'docker.io cache',
      setup: (ws) => {
        fs.writeFileSync(file(ws, CACHES_FILE), content);
      },
      args: (ws) => ['cache', 'list', '--dir', ws.dir],
      message,
    }),
  ),
  {
    name: 'registries.yaml mirroring an upstream with no cache behind it',
    material: 'docker.io cache',
    setup: (ws) => {
      fs.rmSync(file(ws, CACHES_FILE));
    },
    args: (ws) => ['k3d-config', '--dir', ws.dir],
    message: 'disagree: registries.yaml mirrors docker.io to port 5100, which no cache serves',
  },

  // Files only doctor reads (exit 1: the input was fine, the check says no).
  {
    name: 'auth/password from another material',
    setup: replace(MATERIAL_FILES.password, foreignFile(MATERIAL_FILES.password)),
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: 'FAIL',
  },
  {
    name: 'auth/password missing',
    setup: (ws) => fs.rmSync(file(ws, MATERIAL_FILES.password)),
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: `missing from`,
  },
  {
    name: 'certs.d missing',
    setup: (ws) => fs.rmSync(path.join(ws.dir, CONTAINERD_HOSTS_DIR), { recursive: true }),
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: 'is missing',
  },
  {
    name: 'ca.key readable by everyone',
    setup: (ws) => fs.chmodSync(file(ws, MATERIAL_FILES.caKey), 0o644),
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: 'FAIL',
  },
  {
    name: 'caches file readable by everyone',
    material: 'docker.io cache',
    setup: (ws) => {
      fs.chmodSync(file(ws, CACHES_FILE), 0o644);
    },
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: `${CACHES_FILE} is 0644`,
  },
  {
    name: 'storage/s3.json readable by everyone',
    setup: (ws) => {
      fs.mkdirSync(path.join(ws.dir, 'storage'), { mode: 0o700 });
      fs.writeFileSync(
        file(ws, S3_STORAGE_FILE),
        JSON.stringify({ region: 'us-east-1', bucket: 'b', accessKeyId: 'AKIA', secretAccessKey: 'secret' }),
      );
      fs.chmodSync(file(ws, S3_STORAGE_FILE), 0o644);
    },
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: `${S3_STORAGE_FILE} is 0644`,
  },
  {
    name: 'an upstream token copied into node/',
    material: 'docker.io cache',
    setup: (ws) => {
      const cachesFile = file(ws, CACHES_FILE);
      const stored = JSON.parse(fs.readFileSync(cachesFile, 'utf8'));
      stored.caches[0].credentials = { username: 'hub-user', password: 'dckr_pat_leaked-token' };
      fs.writeFileSync(cachesFile, JSON.stringify(stored));
      fs.writeFileSync(path.join(ws.dir, 'node', 'notes.txt'), 'token: dckr_pat_leaked-token\n');
    },
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: /FAIL {2}upstream credentials: .*node\/notes\.txt holds the docker\.io cache's upstream password/,
  },
  {
    name: 'doctor on expired material',
    material: 'expired-tls',
    args: (ws) => ['doctor', '--dir', ws.dir, '--dist', path.join(ws.root, 'no-dist')],
    code: 1,
    message: 'FAIL  server certificate expiry',
  },
];

const cliCases = [...flagCases, ...dirCases, ...materialCases];

// ---------------------------------------------------------------------------------------------------------
// Construct props: thrown at construction, with the prop, the value and the fix.
const good = () => readMaterial(templates.good.dir, { now: NOW });
interface ConstructCase {
  readonly name: string;
  readonly build: () => void;
  readonly message: string | RegExp;
}
const constructCases: ConstructCase[] = [
  {
    name: 'RegistryChart from expired material',
    build: () => readMaterial(templates['expired-ca'].dir, { now: NOW }),
    message: 'ca.crt expired on 2016-01-01T00:00:00Z',
  },
  {
    name: 'RegistryChart from material not valid yet',
    build: () => readMaterial(templates.future.dir, { now: NOW }),
    message: 'is not valid before',
  },
  {
    name: 'createServerCertificate from an expired CA',
    build: () =>
      createServerCertificate({
        ca: readMaterial(templates['expired-ca'].dir, { requireCurrentCertificates: false }).ca,
        subjectAltNames: { dnsNames: ['x'], ipAddresses: [] },
        now: NOW,
      }),
    message: 'the CA certificate expired on 2016-01-01T00:00:00Z',
  },
  {
    name: 'createServerCertificate outliving its CA',
    build: () =>
      createServerCertificate({
        ca: good().ca,
        subjectAltNames: { dnsNames: ['x'], ipAddresses: [] },
        validityDays: 3650,
        now: new Date(NOW.getTime() + 86_400_000),
      }),
    message: "'certValidityDays' must not reach past the CA's end",
  },
  {
    name: 'generateMaterial with a # user',
    build: () => generateMaterial({ username: '#admin' }),
    message: "'username' must not start with '#'",
  },
  {
    name: 'RegistryAuth users with a control character',
    build: () => new RegistryAuth(Testing.chart(), 'Auth', { users: [{ username: 'a\u0007', password: 'pw' }] }),
    message: 'must not hold control characters',
  },
  {
    name: 'RegistryAuth users with a 256-byte name',
    build: () => new RegistryAuth(Testing.chart(), 'Auth', { users: [{ username: 'u'.repeat(256), password: 'pw' }] }),
    message: 'must be at most 255 bytes',
  },
  {
    name: 'RegistryAuth with an empty htpasswd',
    build: () => new RegistryAuth(Testing.chart(), 'Auth', { htpasswd: '', nodeCredentials: FIXTURE_USER }),
    message: "'htpasswd' has no users: nobody could log in to the registry",
  },
  {
    name: 'RegistryServer nodePort 80',
    build: () => {
      const chart = Testing.chart();
      const material = good();
      const auth = new RegistryAuth(chart, 'Auth', {
        htpasswd: material.htpasswd,
        nodeCredentials: material.nodeCredentials,
      });
      new RegistryServer(chart, 'Registry', { tls: material.tls, auth, nodePort: 80 });
    },
    message: "'nodePort' must be an integer in 30000-32767, got 80",
  },
  {
    name: 'RegistryServer image :latest',
    build: () => {
      const chart = Testing.chart();
      const material = good();
      const auth = new RegistryAuth(chart, 'Auth', {
        htpasswd: material.htpasswd,
        nodeCredentials: material.nodeCredentials,
      });
      new RegistryServer(chart, 'Registry', { tls: material.tls, auth, image: 'registry:latest' });
    },
    message: "'image' must name an exact version",
  },
  {
    name: 'RegistryServer storageSize "lots"',
    build: () => {
      const chart = Testing.chart();
      const material = good();
      const auth = new RegistryAuth(chart, 'Auth', {
        htpasswd: material.htpasswd,
        nodeCredentials: material.nodeCredentials,
      });
      new RegistryServer(chart, 'Registry', { tls: material.tls, auth, storageSize: 'lots' });
    },
    message: "'storageSize' must be a Kubernetes quantity",
  },
  {
    name: 'RegistryChart with a registries.yaml NodePort 80',
    build: () => {
      const material = good();
      const registries = {
        ...material.registries,
        mirrors: Object.fromEntries(
          Object.entries(material.registries.mirrors).map(([name, mirror]) => [name.replace('31113', '80'), mirror]),
        ),
      };
      new RegistryChart(Testing.app(), 'registry', { material: { ...material, registries } });
    },
    message: '\'material.registries\': its mirror "localhost:80"',
  },
  {
    name: 'NodeHostsDaemonSet interval 0',
    build: () => {
      const chart = new Chart(Testing.app(), 'c', { namespace: 'container-registry' });
      const material = good();
      const auth = new RegistryAuth(chart, 'Auth', {
        htpasswd: material.htpasswd,
        nodeCredentials: material.nodeCredentials,
      });
      const registry = new RegistryServer(chart, 'Registry', { tls: material.tls, auth });
      new NodeHostsDaemonSet(chart, 'Hosts', { registry, intervalSeconds: 0 } as never);
    },
    message: /interval/i,
  },
];

/** Good material's auth and registry in `chart`, for the cases about what is built beside them. */
function registryIn(chart: Chart): { auth: RegistryAuth; registry: RegistryServer } {
  const material = good();
  const auth = new RegistryAuth(chart, 'Auth', { material });
  return { auth, registry: new RegistryServer(chart, 'Registry', { material, auth }) };
}

constructCases.push(
  {
    name: 'RegistryCache ttl "a week"',
    build: () => {
      const chart = new Chart(Testing.app(), 'c', { namespace: 'container-registry' });
      const { auth, registry } = registryIn(chart);
      new RegistryCache(chart, 'Cache', { registry, auth, upstream: 'docker.io', ttl: 'a week' });
    },
    message: `'ttl' must be a duration like "168h", "24h" or "90m", got "a week"`,
  },
  {
    name: 'RegistryCache in another namespace than the registry',
    build: () => {
      const app = Testing.app();
      const chart = new Chart(app, 'c', { namespace: 'container-registry' });
      const { auth, registry } = registryIn(chart);
      new RegistryCache(new Chart(app, 'other', { namespace: 'other' }), 'Cache', {
        registry,
        auth,
        upstream: 'ghcr.io',
      });
    },
    message: `RegistryCache must be in the registry's namespace "container-registry", got "other"`,
  },
  {
    name: 'RegistryChart caches: two for quay.io',
    build: () =>
      new RegistryChart(Testing.app(), 'registry', {
        material: { ...good(), registries: undefined },
        caches: [{ upstream: 'quay.io' }, { upstream: 'https://quay.io', port: 5110 }],
      }),
    message: `'caches[1]' is a second cache for "quay.io" (also 'caches[0]')`,
  },
  {
    name: 'RegistryChart caches: a.b.io:5000 and a-b.io:5000 (one name in Kubernetes)',
    build: () =>
      new RegistryChart(Testing.app(), 'registry', {
        material: { ...good(), registries: undefined },
        caches: [
          { upstream: 'https://a.b.io:5000', port: 5104 },
          { upstream: 'https://a-b.io:5000', port: 5105 },
        ],
      }),
    message: `'caches[1]' ("a-b.io:5000") and 'caches[0]' ("a.b.io:5000") would both be named "a-b-io-5000"`,
  },
  {
    name: 'RegistryCache of the registry itself',
    build: () => {
      const chart = new Chart(Testing.app(), 'c', { namespace: 'container-registry' });
      const { auth, registry } = registryIn(chart);
      new RegistryCache(chart, 'Cache', {
        registry,
        auth,
        upstream: 'https://container-registry.local:5000',
        port: 5104,
      });
    },
    message: `'upstream' must not be the registry itself, got "container-registry.local:5000"`,
  },
  {
    name: 'RegistryChart caches: credentials without a password',
    build: () =>
      new RegistryChart(Testing.app(), 'registry', {
        material: { ...good(), registries: undefined },
        caches: [{ upstream: 'ghcr.io', credentials: { username: 'octocat', password: '' } }],
      }),
    message: `'credentials' of the ghcr.io cache need both 'username' and 'password', got no password`,
  },
);

const counts = {
  flags: flagCases.length,
  dirs: dirCases.length,
  material: materialCases.length,
  constructs: constructCases.length,
};
const total = Object.values(counts).reduce((sum, count) => sum + count, 0);

describe('bad input', () => {
  afterAll(() => {
    process.stderr.write(
      `bad-input suite: ${total} cases: ${counts.flags} flags and arguments, ${counts.dirs} material paths, ${counts.material} material files, ${counts.constructs} construct props\n`,
    );
  });

  it('has at least 150 distinct cases', () => {
    const names = [...cliCases, ...constructCases].map((row) => row.name);
    expect(new Set(names).size).toBe(names.length);
    expect(names.length).toBe(total);
    expect(total).toBeGreaterThanOrEqual(150);
  });

  it.each(cliCases.map((row) => [row.name, row] as const))('%s', async (_name, row) => {
    const ws = workspaceFor(row);
    row.setup?.(ws);
    const before = snapshot(ws.root);
    const io = captureIo({ stdin: row.stdin ?? '', now: row.now ?? NOW, env: row.env?.(ws) ?? {} });
    const code = await main(row.args(ws), io);
    const output = `${io.out()}${io.err()}`;
    expect(code, output).toBe(row.code ?? 2);
    const message = typeof row.message === 'function' ? row.message(ws) : row.message;
    if (typeof message === 'string') expect(output).toContain(message);
    else expect(output).toMatch(message);
    expect(output).not.toMatch(STACK_TRACE);
    expect(output).not.toContain('unexpected error');
    expect(snapshot(ws.root)).toEqual(before);
    release(row, ws);
  });

  it.each(constructCases.map((row) => [row.name, row] as const))('%s', (_name, row) => {
    let thrown: unknown;
    try {
      row.build();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    const message = (thrown as Error).message;
    if (typeof row.message === 'string') expect(message).toContain(row.message);
    else expect(message).toMatch(row.message);
  });
});
