import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Used when this process has no PATH at all. */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** `env` plus this process's PATH unless `env` sets its own: children get only what the test states. */
export function withPath(env: Readonly<Record<string, string>> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? DEFAULT_PATH, ...env };
}

/** `cmd` if it holds a '/', else the first executable file named `cmd` in `pathVar`'s directories. */
export function findExecutable(cmd: string, pathVar: string = process.env.PATH ?? ''): string | undefined {
  const candidates = cmd.includes('/')
    ? [cmd]
    : pathVar
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, cmd));
  return candidates.find((path) => {
    try {
      accessSync(path, constants.X_OK);
      return statSync(path).isFile();
    } catch {
      return false;
    }
  });
}

export interface SpawnManagedOptions {
  /** The child's whole environment. @default - this process's environment */
  readonly env?: Readonly<Record<string, string>>;
}

/** How long stop() waits after SIGTERM before it sends SIGKILL. */
const KILL_AFTER_MS = 5_000;

export interface ManagedProcess {
  /** -1 when the process could not be started (see exitStatus()). */
  readonly pid: number;
  /** stdout and stderr so far, in the order they arrived. */
  output(): string;
  /** null while running, else how it ended: "exit code N", "killed by SIGNAL" or "failed to start: ...". */
  exitStatus(): string | null;
  /** SIGTERM, then SIGKILL after 5 s; resolves once exited with all output read. Idempotent. */
  stop(): Promise<void>;
}

/** true if `promise` settles within `ms`; clears its timer so nothing lingers after stop(). */
function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    void promise.finally(() => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts a long-running executable (no shell) whose output is kept for error messages and assertions. */
export function spawnManaged(cmd: string, args: readonly string[], options: SpawnManagedOptions = {}): ManagedProcess {
  const child = spawn(cmd, args, { env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

  // 'close' (not 'exit') so the last lines are in `output`; it also follows a spawn 'error'.
  let status: string | null = null;
  child.once('error', (err) => (status ??= `failed to start: ${err.message}`));
  const exited = new Promise<void>((resolve) => {
    child.once('close', (code, signal) => {
      status ??= signal !== null ? `killed by ${signal}` : `exit code ${code}`;
      resolve();
    });
  });

  const signal = (sig: NodeJS.Signals): void => {
    try {
      // Never without a pid: process.kill(-1) would signal every process we may signal.
      if (child.pid !== undefined) process.kill(child.pid, sig);
    } catch {
      // Already gone (ESRCH) between the check and the kill: nothing to do.
    }
  };

  return {
    pid: child.pid ?? -1,
    output: () => output,
    exitStatus: () => status,
    stop: async () => {
      if (status === null) {
        signal('SIGTERM');
        if (!(await settlesWithin(exited, KILL_AFTER_MS))) signal('SIGKILL');
      }
      await exited;
    },
  };
}
