import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isIssuedBy, keyMatchesCertificate } from '../../lib/certificates';
import { containerdHostsFiles } from '../../lib/containerd-hosts';
import { parseHtpasswd, verifyPassword } from '../../lib/htpasswd';
import {
  CONTAINERD_HOSTS_DIR,
  MATERIAL_FILES,
  SECRET_MATERIAL_FILES,
  generateMaterial,
  nodeCredentialsOf,
  readMaterial,
  writeNewMaterial,
} from '../../lib/material';
import { CACHES_FILE } from '../../lib/material-caches-file';
import { lockPathFor } from '../../lib/material-lock';
import { addMaterialUser } from '../../lib/material-users';
import { crashLeftovers } from '../../lib/material-transaction';
import { parseRegistriesYaml } from '../../lib/registries-yaml';

/**
 * The fault-injection suite's tools: run the built bin (or the synth app) as a real process, kill it at an
 * instant, run the next command, and judge what is on disk: the old material or the new, whole, nothing left.
 */

export const ROOT = path.resolve(__dirname, '../..');
export const BIN = path.join(ROOT, 'bin/private-registry.js');
export const SYNTH_APP = path.join(ROOT, 'build/charts/main.js');
export const MATERIAL = 'registry';

/** Passwords the tests use: a file holding one of them holds a secret. */
export const PASSWORDS = { registry: 'fault-test-registry-pw', alice: 'fault-test-alice-pw', bob: 'fault-test-bob-pw' };

export interface ProcessResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
  /** With RunOptions.count: calls per syscall. */
  readonly calls?: Readonly<Record<string, number>>;
}

export interface RunOptions {
  readonly input?: string;
  /** Kill the process with SIGKILL this many ms after it starts. */
  readonly killAfterMs?: number;
  /** Run under strace, which sends SIGKILL on entering the `when`-th call of `syscall`. */
  readonly inject?: { readonly syscall: string; readonly when: number };
  /** Run under `strace -c` counting these syscalls; the counts come back in `calls`. */
  readonly count?: readonly string[];
}

/** Runs `node <args>` in `cwd` and resolves when it ends, however it ends. */
export function runNode(cwd: string, args: readonly string[], options: RunOptions = {}): Promise<ProcessResult> {
  const countFile = path.join(cwd, '.strace-count');
  let command = process.execPath;
  let argv = [...args];
  if (options.inject !== undefined) {
    const { syscall, when } = options.inject;
    command = 'strace';
    argv = [
      '-f',
      '-qq',
      '-o',
      '/dev/null',
      '-e',
      `trace=${syscall}`,
      '-e',
      `inject=${syscall}:signal=KILL:when=${when}`,
    ];
    argv.push(process.execPath, ...args);
  } else if (options.count !== undefined) {
    command = 'strace';
    argv = ['-f', '-qq', '-c', '-U', 'calls,name', '-o', countFile, '-e', `trace=${options.count.join(',')}`];
    argv.push(process.execPath, ...args);
  }
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, argv, { cwd, env: { PATH: process.env.PATH ?? '' }, stdio: 'pipe' });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer =
      options.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), options.killAfterMs);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      // strace ends itself with the signal that killed its tracee.
      const killed = signal ?? (code === 128 + 9 ? 'SIGKILL' : null);
      let calls: Record<string, number> | undefined;
      if (options.count !== undefined) {
        calls = Object.fromEntries(options.count.map((name) => [name, 0]));
        for (const [, n, name] of fs.readFileSync(countFile, 'utf8').matchAll(/^\s*(\d+)\s+(\w+)\s*$/gm))
          if (name in calls) calls[name] = Number(n);
        fs.rmSync(countFile);
      }
      const ms = Date.now() - started;
      resolve({ code: killed === null ? code : null, signal: killed, stdout, stderr, ms, calls });
    });
    // A trial may kill the command before it reads its stdin: the write then fails with EPIPE, which is
    // the trial's own doing, not an error of the run.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input ?? '');
  });
}

export const cli = (cwd: string, args: readonly string[], options: RunOptions = {}) =>
  runNode(cwd, [BIN, ...args], options);

/** A fresh temp directory for one trial. */
export function trialDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'fault-'));
}

/**
 * Material made once per suite (RSA keys are slow): user "registry" (the nodes') and "alice", known
 * passwords. `copyTo(cwd)` puts a byte-identical copy at `<cwd>/registry`.
 */
export function materialTemplate(): { readonly hashes: Record<string, string>; copyTo(cwd: string): void } {
  const dir = path.join(trialDir(), MATERIAL);
  writeNewMaterial(dir, generateMaterial({ username: 'registry', password: PASSWORDS.registry }));
  addMaterialUser(dir, 'alice', { password: PASSWORDS.alice });
  return {
    hashes: fileHashes(dir),
    copyTo: (cwd) => fs.cpSync(dir, path.join(cwd, MATERIAL), { recursive: true }),
  };
}

/** Every file under `dir` → sha256 of its bytes. */
export function fileHashes(dir: string): Record<string, string> {
  const hashes: Record<string, string> = {};
  for (const entry of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    hashes[path.relative(dir, file)] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  return hashes;
}

/** Why the material in `dir` is not whole (empty when it is): every pair, credential and mode agrees. */
export function wholeMaterialProblems(dir: string): string[] {
  const problems: string[] = [];
  const read = (relativePath: string): string | undefined => {
    try {
      return fs.readFileSync(path.join(dir, relativePath), 'utf8');
    } catch {
      problems.push(`${relativePath} is missing`);
      return undefined;
    }
  };
  const files = Object.fromEntries(Object.values(MATERIAL_FILES).map((file) => [file, read(file)])) as Record<
    string,
    string | undefined
  >;
  if (problems.length > 0) return problems;
  const attempt = (what: string, fn: () => boolean): void => {
    try {
      if (!fn()) problems.push(what);
    } catch (error) {
      problems.push(`${what}: ${(error as Error).message}`);
    }
  };
  const ca = files[MATERIAL_FILES.caCertificate] as string;
  const tls = files[MATERIAL_FILES.tlsCertificate] as string;
  attempt('ca.key does not match ca.crt', () => keyMatchesCertificate(ca, files[MATERIAL_FILES.caKey] as string));
  attempt('tls.key does not match tls.crt', () => keyMatchesCertificate(tls, files[MATERIAL_FILES.tlsKey] as string));
  attempt('tls.crt is not signed by ca.crt', () => isIssuedBy(tls, ca));
  attempt('registries.yaml, auth/password and htpasswd disagree on the nodes’ user', () => {
    const registries = parseRegistriesYaml(files[MATERIAL_FILES.registriesYaml] as string);
    const node = nodeCredentialsOf(registries);
    const entries = parseHtpasswd(files[MATERIAL_FILES.htpasswd] as string);
    return (
      node.password === (files[MATERIAL_FILES.password] as string).replace(/\n$/, '') &&
      verifyPassword(entries, node.username, node.password)
    );
  });
  attempt('certs.d does not match registries.yaml', () => {
    const registries = parseRegistriesYaml(files[MATERIAL_FILES.registriesYaml] as string);
    const expected = Object.fromEntries(
      containerdHostsFiles(registries).map((file) => [`${CONTAINERD_HOSTS_DIR}/${file.host}/hosts.toml`, file.content]),
    );
    const actual = Object.fromEntries(
      Object.keys(fileHashes(dir))
        .filter((file) => file.startsWith(`${CONTAINERD_HOSTS_DIR}/`))
        .map((file) => [file, fs.readFileSync(path.join(dir, file), 'utf8')]),
    );
    return (
      JSON.stringify(actual, Object.keys(actual).sort()) === JSON.stringify(expected, Object.keys(expected).sort())
    );
  });
  if (fs.existsSync(path.join(dir, CACHES_FILE))) {
    // readMaterial refuses a caches file that registries.yaml does not mirror on the same ports.
    attempt('the caches file and registries.yaml disagree', () => readMaterial(dir).caches !== undefined);
  }
  for (const secret of [
    ...SECRET_MATERIAL_FILES,
    ...(fs.existsSync(path.join(dir, CACHES_FILE)) ? [CACHES_FILE] : []),
  ]) {
    const mode = fs.statSync(path.join(dir, secret)).mode & 0o777;
    if (mode !== 0o600) problems.push(`${secret} has mode ${mode.toString(8)}`);
  }
  if ((fs.statSync(dir).mode & 0o777) !== 0o700) problems.push(`${dir} is not 0700`);
  return problems;
}

/**
 * Files under `root` that hold a key, a bcrypt hash or a known password and that group or others may
 * read. Checked right after a kill, before anything recovers.
 */
export function exposedSecrets(root: string): string[] {
  const exposed: string[] = [];
  for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const file = path.join(entry.parentPath, entry.name);
    const content = fs.readFileSync(file, 'utf8');
    const secret =
      /PRIVATE KEY|\$2[aby]\$|password:/.test(content) || Object.values(PASSWORDS).some((pw) => content.includes(pw));
    if (secret && (fs.statSync(file).mode & 0o077) !== 0) exposed.push(path.relative(root, file));
  }
  return exposed;
}

/** What is left beside and in the material that should not be, after the next command ran. */
export function leftoversAfterRecovery(cwd: string): string[] {
  const dir = path.join(cwd, MATERIAL);
  const lock = lockPathFor(dir);
  const stray = fs
    .readdirSync(cwd)
    .filter((name) => !(name === MATERIAL || name === 'dist' || /^registry\.backup-\d{8}T\d{6}Z(-\d+)?$/.test(name)))
    .map((name) => path.join(cwd, name));
  return [...new Set([...stray, ...crashLeftovers(dir), ...(fs.existsSync(lock) ? [lock] : [])])];
}

/** The backups beside the material. */
export function backups(cwd: string): string[] {
  return fs
    .readdirSync(cwd)
    .filter((name) => name.startsWith(`${MATERIAL}.backup-`))
    .map((name) => path.join(cwd, name));
}
