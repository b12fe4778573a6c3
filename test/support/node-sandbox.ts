import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { HostsTomlFile } from '../../lib/containerd-hosts';
import type { Credentials } from '../../lib/htpasswd';
import { DEFAULT_PATH, findExecutable, type ManagedProcess, spawnManaged, withPath } from './child-process';
import { DNS_RESPONDER_SOURCE, type DnsRecords, writeDnsState } from './dns-responder';
import { run, type RunResult } from './run';

/**
 * One k3d node played with real parts: a network namespace of its own (loopback only, plus any
 * addresses the test puts on its `lo`, e.g. a fake Service ClusterIP), real containerd started inside
 * it, and the node's /etc/hosts and /etc/resolv.conf.
 *
 * Every command runs through `ip netns exec NAME`, which also bind-mounts /etc/netns/NAME/hosts and
 * /etc/netns/NAME/resolv.conf over /etc/hosts and /etc/resolv.conf in a private mount namespace: the
 * same situation as a k3d node, whose /etc/hosts is a file bind-mounted by Docker (rewrite it in place;
 * `sed -i` and `mv` fail with "Device or resource busy"). `ip netns exec` execs the command itself, so
 * the pid of a spawned process is the command's pid.
 *
 * Needs root (CAP_SYS_ADMIN, CAP_NET_ADMIN) and iproute2, containerd (with ctr) and, for
 * the responder, Node. Nothing listens outside the namespace; the test process cannot connect into
 * it either, so clients (skopeo, curl, ctr) run inside with execInNode.
 */

/** What Docker and k3d put into a k3d node's /etc/hosts (addresses are only text here). */
export const K3D_NODE_HOSTS = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
  '172.18.0.3\tk3d-dev-server-0',
  '172.18.0.1 host.k3d.internal',
  '192.168.1.10 git.example.internal',
  '',
].join('\n');

/** The containerd namespace CRI (and so k3s's kubelet) uses; images pulled here are the node's images. */
const CONTAINERD_NAMESPACE = 'k8s.io';

export interface NodeSandboxOptions {
  /** Extra addresses on the namespace's `lo`, as CIDR, e.g. ['10.43.0.50/32'] for a Service ClusterIP. */
  addresses?: readonly string[];
  /** Initial /etc/hosts of the node (default K3D_NODE_HOSTS). */
  hosts?: string;
  /**
   * A DNS server inside the node (see dns-responder.ts) answering A queries for `records`, NXDOMAIN
   * otherwise; listens on `listen`:53 (default 127.0.0.1, which must be an address of the node).
   * false: none.
   */
  dns?: false | { listen?: string; records?: DnsRecords };
  /** Initial /etc/resolv.conf (default `nameserver <dns listen address>`, or 127.0.0.1 without dns). */
  resolvConf?: string;
  /** Start containerd in the node (default true). */
  containerd?: boolean;
  /** Namespace name prefix (default "k3dnode"); the name gets the pid and a random suffix. */
  namePrefix?: string;
  /** Bound on each readiness wait (default 10 s). */
  readyTimeoutMs?: number;
}

/** A process started in the node; stop() sends SIGTERM, then SIGKILL after 5 s. */
export interface NodeProcess extends ManagedProcess {
  /** The command line, for messages. */
  readonly command: string;
}

export interface SpawnInNodeOptions {
  /** The whole environment (PATH is added when missing). Default: PATH only. */
  env?: Record<string, string>;
  /** Resolve once something listens on this TCP address inside the node. */
  readyListen?: { host: string; port: number };
  /** Resolve once the output matches. */
  readyOutput?: RegExp;
  /** Default: the sandbox's readyTimeoutMs. */
  readyTimeoutMs?: number;
}

export interface ExecInNodeOptions {
  /** The whole environment (PATH is added when missing). Default: PATH only. */
  env?: Record<string, string>;
  /** Default 30 s. */
  timeoutMs?: number;
  input?: string;
}

export interface PullOptions {
  /** Given as `ctr images pull -u USER:PASS` (k3s puts registries.yaml credentials in config.toml instead). */
  credentials?: Credentials;
  /** Default: the directory writeHostsToml writes when given none. */
  hostsDir?: string;
  timeoutMs?: number;
}

export interface NodeSandbox {
  /** The network namespace's name (`ip netns exec NAME sh` to look inside while a test runs). */
  readonly name: string;
  /** The node's /etc/hosts, as seen from outside (/etc/netns/NAME/hosts). */
  readonly hostsFile: string;
  execInNode(cmd: string, args: readonly string[], options?: ExecInNodeOptions): Promise<RunResult>;
  spawnInNode(cmd: string, args: readonly string[], options?: SpawnInNodeOptions): Promise<NodeProcess>;
  readHosts(): string;
  /** Rewrites /etc/hosts in place (same inode), as a bind-mounted file must be written. */
  writeHosts(content: string): void;
  /** Replaces the DNS responder's records (takes effect on the next query). */
  setDnsRecords(records: DnsRecords): void;
  /**
   * Replaces the content of `hostsDir` with these `<host>/hosts.toml` files. Default: a directory of
   * the sandbox, like k3s's /var/lib/rancher/k3s/agent/etc/containerd/certs.d.
   */
  writeHostsToml(files: readonly HostsTomlFile[], hostsDir?: string): void;
  /** `ctr --address SOCK -n k8s.io ARGS...` inside the node. */
  ctr(args: readonly string[], options?: ExecInNodeOptions): Promise<RunResult>;
  /** `ctr images pull --snapshotter native --hosts-dir DIR [-u U:P] REF` inside the node. */
  pullImage(ref: string, options?: PullOptions): Promise<RunResult>;
  /** Reads one file of a pulled image: `ctr images mount` in a throwaway mount namespace, cat, unmount. */
  readImageFile(ref: string, path: string): Promise<RunResult>;
  /** Stops every process, deletes the namespace, /etc/netns/NAME and the temp dir. Idempotent. */
  dispose(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Throws unless `cmd` is an executable path or found on PATH: `ip netns exec` would only fail later. */
function assertExecutable(cmd: string, env: Record<string, string>): void {
  if (findExecutable(cmd, env.PATH ?? '') === undefined) {
    throw new Error(`node sandbox: ${cmd} is not an executable${cmd.includes('/') ? '' : ' on PATH'}`);
  }
}

let ipPath: string | undefined;
/** iproute2's `ip`, by absolute path: a caller's PATH (e.g. busybox applets only) must not pick another. */
function ipBinary(): string {
  ipPath ??= findExecutable('ip', `${process.env.PATH ?? ''}${delimiter}${DEFAULT_PATH}`);
  if (ipPath === undefined) throw new Error('node sandbox: iproute2 `ip` not found (apt-get install -y iproute2)');
  return ipPath;
}

async function must(what: string, result: Promise<RunResult>): Promise<RunResult> {
  const r = await result;
  if (r.code !== 0)
    throw new Error(`node sandbox: ${what} failed (exit ${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r;
}

function containerdConfig(dir: string): string {
  const q = (p: string): string => JSON.stringify(p);
  return [
    'version = 2',
    `root = ${q(join(dir, 'containerd', 'root'))}`,
    `state = ${q(join(dir, 'containerd', 'state'))}`,
    // No CRI: no kubelet here, and CRI would want CNI, cgroups, a sandbox image.
    'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
    '[grpc]',
    `  address = ${q(join(dir, 'containerd', 'containerd.sock'))}`,
    '[ttrpc]',
    `  address = ${q(join(dir, 'containerd', 'containerd-ttrpc.sock'))}`,
    '[debug]',
    '  address = ""',
    '[metrics]',
    '  address = ""',
    // Otherwise the opt plugin creates /opt/containerd/{bin,lib} on the machine.
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(join(dir, 'containerd', 'opt'))}`,
    '',
  ].join('\n');
}

/** Creates the namespace and starts what the options ask for. Always dispose() it (afterAll/finally). */
export async function startNodeSandbox(options: NodeSandboxOptions = {}): Promise<NodeSandbox> {
  const name = `${options.namePrefix ?? 'k3dnode'}-${process.pid}-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  const etcDir = join('/etc/netns', name);
  const hostsFile = join(etcDir, 'hosts');
  const resolvConfFile = join(etcDir, 'resolv.conf');
  const hostsDir = join(dir, 'certs.d');
  const readyTimeoutMs = options.readyTimeoutMs ?? 10_000;
  const dns =
    options.dns === false
      ? undefined
      : { listen: options.dns?.listen ?? '127.0.0.1', records: options.dns?.records ?? {} };
  const dnsState = join(dir, 'dns-state.json');
  const processes: NodeProcess[] = [];
  let namespaceCreated = false;
  let disposed = false;
  let containerdAddress: string | undefined;

  const execInNode = (cmd: string, args: readonly string[], opts: ExecInNodeOptions = {}): Promise<RunResult> =>
    run(ipBinary(), ['netns', 'exec', name, cmd, ...args], {
      env: withPath(opts.env),
      timeoutMs: opts.timeoutMs ?? 30_000,
      input: opts.input,
    });

  const isListening = async (host: string, port: number): Promise<boolean> => {
    const out = (await execInNode('ss', ['-Hltn'], { timeoutMs: 5_000 })).stdout;
    const wanted = new Set([`${host}:${port}`, `[${host}]:${port}`, `0.0.0.0:${port}`, `*:${port}`, `[::]:${port}`]);
    return out.split('\n').some((line) => wanted.has(line.trim().split(/\s+/)[3] ?? ''));
  };

  const spawnInNode = async (
    cmd: string,
    args: readonly string[],
    opts: SpawnInNodeOptions = {},
  ): Promise<NodeProcess> => {
    if (disposed) throw new Error(`node sandbox ${name} is disposed`);
    const env = withPath(opts.env);
    assertExecutable(cmd, env);
    const proc: NodeProcess = {
      ...spawnManaged(ipBinary(), ['netns', 'exec', name, cmd, ...args], { env }),
      command: [cmd, ...args].join(' '),
    };
    processes.push(proc);

    const timeout = opts.readyTimeoutMs ?? readyTimeoutMs;
    const deadline = Date.now() + timeout;
    for (;;) {
      const reason = proc.exitStatus();
      if (reason !== null)
        throw new Error(`node sandbox: ${proc.command} ${reason} before it was ready; output:\n${proc.output()}`);
      const outputReady = opts.readyOutput === undefined || opts.readyOutput.test(proc.output());
      const listenReady =
        opts.readyListen === undefined ||
        (outputReady && (await isListening(opts.readyListen.host, opts.readyListen.port)));
      if (outputReady && listenReady) return proc;
      if (Date.now() > deadline) {
        await proc.stop();
        throw new Error(`node sandbox: ${proc.command} not ready within ${timeout} ms; output:\n${proc.output()}`);
      }
      await sleep(opts.readyListen !== undefined ? 20 : 10);
    }
  };

  const stopAll = async (): Promise<void> => {
    for (const proc of [...processes].reverse()) await proc.stop();
    if (!namespaceCreated) return;
    // Anything still in the namespace descends from what we started (socat's forks, shims): end it.
    const pids = (await run(ipBinary(), ['netns', 'pids', name], { timeoutMs: 5_000 })).stdout
      .split(/\s+/)
      .filter((p) => /^\d+$/.test(p));
    for (const pid of pids) {
      console.warn(`node sandbox ${name}: killing leftover pid ${pid} in the namespace`);
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        // gone
      }
    }
  };

  const dispose = async (): Promise<void> => {
    if (disposed) return;
    disposed = true;
    const problems: string[] = [];
    try {
      await stopAll();
    } catch (error) {
      problems.push(`stopping processes: ${(error as Error).message}`);
    }
    if (namespaceCreated) {
      const del = await run(ipBinary(), ['netns', 'del', name], { timeoutMs: 10_000 });
      if (del.code !== 0) problems.push(`ip netns del ${name}: ${del.stderr.trim()}`);
    }
    for (const path of [etcDir, dir]) {
      try {
        rmSync(path, { recursive: true, force: true });
      } catch (error) {
        problems.push(`removing ${path}: ${(error as Error).message}`);
      }
    }
    if (problems.length > 0) throw new Error(`node sandbox ${name} cleanup: ${problems.join('; ')}`);
  };

  const sandbox: NodeSandbox = {
    name,
    hostsFile,
    execInNode,
    spawnInNode,
    readHosts: () => readFileSync(hostsFile, 'utf8'),
    // writeFileSync opens with O_TRUNC: same inode, like `cat new > /etc/hosts` on a node.
    writeHosts: (content) => writeFileSync(hostsFile, content),
    setDnsRecords: (records) => {
      if (dns === undefined) throw new Error('node sandbox: started with dns: false');
      writeDnsState(dnsState, records);
    },
    writeHostsToml: (files, dirPath = hostsDir) => {
      rmSync(dirPath, { recursive: true, force: true });
      mkdirSync(dirPath, { recursive: true });
      for (const file of files) {
        if (file.host === '' || file.host.includes('/') || file.host === '.' || file.host === '..') {
          throw new Error(`node sandbox: bad hosts.toml directory name ${JSON.stringify(file.host)}`);
        }
        mkdirSync(join(dirPath, file.host));
        writeFileSync(join(dirPath, file.host, 'hosts.toml'), file.content);
      }
    },
    ctr: (args, opts) => {
      if (containerdAddress === undefined) throw new Error('node sandbox: started without containerd');
      return execInNode('ctr', ['--address', containerdAddress, '-n', CONTAINERD_NAMESPACE, ...args], opts);
    },
    pullImage: (ref, opts = {}) => {
      const args = ['images', 'pull', '--snapshotter', 'native', '--hosts-dir', opts.hostsDir ?? hostsDir];
      if (opts.credentials) args.push('-u', `${opts.credentials.username}:${opts.credentials.password}`);
      return sandbox.ctr([...args, ref], { timeoutMs: opts.timeoutMs ?? 60_000 });
    },
    readImageFile: async (ref, path) => {
      if (containerdAddress === undefined) throw new Error('node sandbox: started without containerd');
      const target = join(dir, 'mnt', randomBytes(4).toString('hex'));
      mkdirSync(target, { recursive: true });
      // `ip netns exec` gives this shell a private mount namespace: the mount dies with it, even on a crash.
      const script =
        'ctr --address "$1" -n "$2" images mount --snapshotter native "$3" "$4" >/dev/null || exit 97\n' +
        'cat "$4/$5"; rc=$?\n' +
        'ctr --address "$1" -n "$2" images unmount --rm "$4" >/dev/null\n' +
        'exit $rc\n';
      try {
        return await execInNode('sh', [
          '-c',
          script,
          'sh',
          containerdAddress,
          CONTAINERD_NAMESPACE,
          ref,
          target,
          path.replace(/^\/+/, ''),
        ]);
      } finally {
        rmSync(target, { recursive: true, force: true });
      }
    },
    dispose,
  };

  try {
    mkdirSync(etcDir, { recursive: true });
    writeFileSync(hostsFile, options.hosts ?? K3D_NODE_HOSTS);
    writeFileSync(resolvConfFile, options.resolvConf ?? `nameserver ${dns?.listen ?? '127.0.0.1'}\n`);
    await must(`ip netns add ${name}`, run(ipBinary(), ['netns', 'add', name], { timeoutMs: 10_000 }));
    namespaceCreated = true;
    await must('bringing lo up', run(ipBinary(), ['-n', name, 'link', 'set', 'lo', 'up'], { timeoutMs: 10_000 }));
    for (const address of options.addresses ?? []) {
      await must(
        `adding ${address} to lo`,
        run(ipBinary(), ['-n', name, 'addr', 'add', address, 'dev', 'lo'], { timeoutMs: 10_000 }),
      );
    }

    if (dns !== undefined) {
      const script = join(dir, 'dns-responder.cjs');
      writeFileSync(script, DNS_RESPONDER_SOURCE);
      writeDnsState(dnsState, dns.records);
      await spawnInNode(process.execPath, [script, dnsState, dns.listen, '53'], { readyOutput: /^listening /m });
    }

    if (options.containerd !== false) {
      mkdirSync(join(dir, 'containerd'), { recursive: true });
      const configPath = join(dir, 'containerd', 'config.toml');
      writeFileSync(configPath, containerdConfig(dir));
      const socket = join(dir, 'containerd', 'containerd.sock');
      const proc = await spawnInNode('containerd', ['--config', configPath]);
      const deadline = Date.now() + readyTimeoutMs;
      while (!existsSync(socket)) {
        if (proc.exitStatus() !== null)
          throw new Error(`node sandbox: containerd ${proc.exitStatus()}; output:\n${proc.output()}`);
        if (Date.now() > deadline)
          throw new Error(
            `node sandbox: containerd socket not there within ${readyTimeoutMs} ms; output:\n${proc.output()}`,
          );
        await sleep(10);
      }
      containerdAddress = socket;
    }
    return sandbox;
  } catch (error) {
    await dispose().catch((cleanupError: Error) => console.warn(cleanupError.message));
    throw error;
  }
}
