import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';

export interface RegistryOptions {
  /** REGISTRY_* variables; must include REGISTRY_HTTP_ADDR=127.0.0.1:PORT. Only PATH is added. */
  env: Record<string, string>;
  /** Where the config file goes (the caller owns and removes this directory). */
  workDir: string;
  /** Give up waiting for the port after this long (default 8 s). */
  readyTimeoutMs?: number;
}

export interface RunningRegistry {
  pid: number;
  host: string;
  port: number;
  /** Everything the registry printed so far (it logs to stderr). */
  logs(): string;
  /** SIGTERM, then SIGKILL after a bound; resolves once the process has exited. Idempotent. */
  stop(): Promise<void>;
}

const running = new Set<RunningRegistry>();

function parseAddr(addr: string | undefined): { host: string; port: number } {
  const match = /^(.+):(\d+)$/.exec(addr ?? '');
  if (match === null) throw new Error(`startRegistry: env.REGISTRY_HTTP_ADDR must be HOST:PORT, got ${JSON.stringify(addr)}`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2]) };
}

function acceptsConnections(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.setTimeout(500);
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.once('timeout', () => done(false));
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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

/** Starts the real `docker-registry serve` and resolves once it says it listens and its port accepts connections. */
export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  const { host, port } = parseAddr(options.env.REGISTRY_HTTP_ADDR);
  // Everything else comes from env, so the test fully states the configuration under test.
  const configPath = join(options.workDir, 'registry-config.yml');
  writeFileSync(configPath, 'version: 0.1\n');

  const child = spawn('docker-registry', ['serve', configPath], {
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

  // 'close' (not 'exit') so the last log lines are in `output`; it also follows a spawn 'error'.
  // Read through a function so TypeScript does not narrow it to its initial null across awaits.
  let exitStatus: string | null = null;
  const exitReason = (): string | null => exitStatus;
  child.once('error', (err) => (exitStatus = `failed to start: ${err.message}`));
  const exited = new Promise<void>((resolve) => {
    child.once('close', (code, signal) => {
      exitStatus ??= signal !== null ? `killed by ${signal}` : `exit code ${code}`;
      resolve();
    });
  });

  const signal = (sig: NodeJS.Signals): void => {
    try {
      if (child.pid !== undefined) process.kill(child.pid, sig);
    } catch {
      // Already gone (ESRCH) between our check and the kill: nothing to do.
    }
  };
  const stop = async (): Promise<void> => {
    if (exitReason() === null) {
      signal('SIGTERM');
      const ended = await settlesWithin(exited, 5_000);
      if (!ended) signal('SIGKILL');
    }
    await exited;
    running.delete(registry);
  };

  const registry: RunningRegistry = { pid: child.pid ?? -1, host, port, logs: () => output, stop };
  running.add(registry);

  const deadline = Date.now() + (options.readyTimeoutMs ?? 8_000);
  for (;;) {
    const reason = exitReason();
    if (reason !== null) {
      await stop();
      throw new Error(`docker-registry ${reason} before listening on ${host}:${port}; output:\n${output}`);
    }
    // Its own log line, not just an open port: another process may hold a port picked as free.
    if (output.includes(`listening on ${host}:${port}`) && (await acceptsConnections(host, port))) return registry;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`docker-registry did not listen on ${host}:${port} within ${options.readyTimeoutMs ?? 8_000} ms; output:\n${output}`);
    }
    await sleep(25);
  }
}

/** Stops every registry this module started and that is still running (for afterAll). */
export async function stopAllRegistries(): Promise<void> {
  await Promise.all([...running].map((registry) => registry.stop()));
}
