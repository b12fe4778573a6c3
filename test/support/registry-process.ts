import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { spawnManaged, withPath } from './child-process';

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
  if (match === null)
    throw new Error(`startRegistry: env.REGISTRY_HTTP_ADDR must be HOST:PORT, got ${JSON.stringify(addr)}`);
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

/** Starts the real `docker-registry serve` and resolves once it says it listens and its port accepts connections. */
export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  const { host, port } = parseAddr(options.env.REGISTRY_HTTP_ADDR);
  // Everything else comes from env, so the test fully states the configuration under test.
  const configPath = join(options.workDir, 'registry-config.yml');
  writeFileSync(configPath, 'version: 0.1\n');

  const child = spawnManaged('docker-registry', ['serve', configPath], { env: withPath(options.env) });
  const registry: RunningRegistry = {
    pid: child.pid,
    host,
    port,
    logs: child.output,
    stop: async () => {
      await child.stop();
      running.delete(registry);
    },
  };
  running.add(registry);

  const readyTimeoutMs = options.readyTimeoutMs ?? 8_000;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    const reason = child.exitStatus();
    if (reason !== null) {
      await registry.stop();
      throw new Error(`docker-registry ${reason} before listening on ${host}:${port}; output:\n${child.output()}`);
    }
    // Its own log line, not just an open port: another process may hold a port picked as free.
    if (child.output().includes(`listening on ${host}:${port}`) && (await acceptsConnections(host, port)))
      return registry;
    if (Date.now() > deadline) {
      await registry.stop();
      throw new Error(
        `docker-registry did not listen on ${host}:${port} within ${readyTimeoutMs} ms; output:\n${child.output()}`,
      );
    }
    await sleep(25);
  }
}

/** Stops every registry this module started and that is still running (for afterAll). */
export async function stopAllRegistries(): Promise<void> {
  await Promise.all([...running].map((registry) => registry.stop()));
}
