import { randomBytes, randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ManagedProcess, spawnManaged, withPath } from './child-process';
import { freeLoopbackPort } from './free-port';
import { run } from './run';

/** A single-node Ceph cluster with a RADOS Gateway: an S3 endpoint on loopback, data in RAM. */
export interface CephRgw {
  /** http://127.0.0.1:PORT */
  readonly endpoint: string;
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** The PIDs of mon, OSD and rgw, for the report and for the caller's own checks. */
  readonly pids: { readonly mon: number; readonly osd: number; readonly rgw: number };
  /** Creates a bucket with a signed PUT (the registry does not create its bucket). */
  createBucket(bucket: string): Promise<void>;
  /** The keys in `bucket` under `prefix` (signed GET ?list-type=2), at most 1000. */
  listKeys(bucket: string, prefix?: string): Promise<string[]>;
  /** rgw, then OSD, then mon (FIELD-NOTES: rgw gets SIGKILL, it lingers on SIGTERM), then the temp dir. */
  stop(): Promise<void>;
}

/** CEPH_PACKAGES' executables, for describeReal. */
export const CEPH_TOOLS = ['ceph-mon', 'ceph-osd', 'radosgw', 'radosgw-admin', 'monmaptool', 'ceph', 'curl'];

const REGION = 'us-east-1';

async function must(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const result = await run(cmd, args, { env: withPath(), timeoutMs });
  if (result.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${result.code}):\n${result.stderr}`);
  return result.stdout;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(what: string, daemon: ManagedProcess, check: () => Promise<boolean>, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = daemon.exitStatus();
    if (status !== null) throw new Error(`${what}: the daemon ended (${status}); output:\n${daemon.output()}`);
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`${what} not ready within ${timeoutMs} ms; output:\n${daemon.output()}`);
    await sleep(50);
  }
}

/**
 * Starts mon, a memstore OSD and radosgw on ports picked here, in a temp dir, each in the foreground under
 * its PID; settings and order from FIELD-NOTES ("A real S3 engine offline"). On failure everything
 * started so far is stopped again.
 */
export async function startCephRgw(options: { memoryBytes?: number } = {}): Promise<CephRgw> {
  const dir = mkdtempSync(join(tmpdir(), 'ceph-rgw-'));
  // In start order: mon, OSD, rgw.
  const started: { daemon: ManagedProcess; killOutright: boolean }[] = [];
  const stopAll = async () => {
    for (const { daemon, killOutright } of [...started].reverse()) {
      // On SIGTERM radosgw lingers about 10 s; it holds nothing that SIGKILL could lose here.
      if (killOutright && daemon.exitStatus() === null) process.kill(daemon.pid, 'SIGKILL');
      await daemon.stop();
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const [monV2, monV1, rgwPort] = await distinctFreePorts(3);
    const fsid = randomUUID();
    const conf = join(dir, 'ceph.conf');
    for (const sub of ['run', 'log', 'mon', 'osd', 'rgw']) mkdirSync(join(dir, sub));
    const monAddress = `[v2:127.0.0.1:${monV2},v1:127.0.0.1:${monV1}]`;
    writeFileSync(
      conf,
      [
        '[global]',
        `fsid = ${fsid}`,
        // Always an address: without one radosgw does a DNS SRV lookup off the machine.
        `mon host = ${monAddress}`,
        'mon initial members = a',
        // Without these radosgw hangs 300 s on "get_initial_auth_request returned -13".
        'auth cluster required = none',
        'auth service required = none',
        'auth client required = none',
        'ms mon client mode = crc',
        'osd pool default size = 1',
        'osd pool default min size = 1',
        'mon allow pool size one = true',
        'osd crush chooseleaf type = 0',
        'osd objectstore = memstore',
        `memstore device bytes = ${options.memoryBytes ?? 2 * 1024 ** 3}`,
        // The first start drops from 15 s to 2 s.
        'paxos propose interval = 0.05',
        // One placement group per pool instead of 32: radosgw creates about six pools, and the one OSD peered
        // every group of each. With the settings under [client.rgw.a], start-up CPU of OSD and rgw halves.
        'osd pool default pg num = 1',
        'osd pool default pgp num = 1',
        `run dir = ${dir}/run`,
        `log file = ${dir}/log/$name.log`,
        `admin socket = ${dir}/run/$name.asok`,
        `mon data = ${dir}/mon/$cluster-$id`,
        `osd data = ${dir}/osd/$cluster-$id`,
        `rgw data = ${dir}/rgw/$cluster-$id`,
        '[client.rgw.a]',
        // Without tcp_nodelay every S3 call costs about 40 ms.
        `rgw frontends = beast endpoint=127.0.0.1:${rgwPort} tcp_nodelay=1`,
        // 512 threads by default; a test sends a handful of requests at a time.
        'rgw thread pool size = 16',
        // Background work a test never waits for: each of gc and lc creates 32 shard objects at start-up.
        // Deleted objects still leave the listing at once; their data stays in RAM until the cluster stops.
        'rgw enable gc threads = false',
        'rgw enable lc threads = false',
        'rgw enable quota threads = false',
        'rgw dynamic resharding = false',
        '',
      ].join('\n'),
    );
    const ceph = (args: string[]) => must('ceph', ['--conf', conf, '--connect-timeout', '10', ...args]);

    await must('monmaptool', ['--create', '--fsid', fsid, '--addv', 'a', monAddress, join(dir, 'monmap')]);
    await must('ceph-mon', ['--conf', conf, '--mkfs', '-i', 'a', '--monmap', join(dir, 'monmap')]);
    const mon = spawnManaged('ceph-mon', ['--conf', conf, '-i', 'a', '-f'], { env: withPath() });
    started.push({ daemon: mon, killOutright: false });

    const osdUuid = randomUUID();
    const osdId = (await ceph(['osd', 'new', osdUuid])).trim();
    mkdirSync(join(dir, 'osd', `ceph-${osdId}`));
    await must('ceph-osd', ['--conf', conf, '-i', osdId, '--mkfs', '--osd-uuid', osdUuid]);
    const osd = spawnManaged('ceph-osd', ['--conf', conf, '-i', osdId, '-f'], { env: withPath() });
    started.push({ daemon: osd, killOutright: false });

    const rgw = spawnManaged('radosgw', ['--conf', conf, '-n', 'client.rgw.a', '-f'], { env: withPath() });
    started.push({ daemon: rgw, killOutright: true });
    const endpoint = `http://127.0.0.1:${rgwPort}`;
    await waitFor('radosgw', rgw, () => answersHttp(endpoint), 60_000);

    const accessKeyId = `TEST${randomBytes(8).toString('hex').toUpperCase()}`;
    const secretAccessKey = randomBytes(20).toString('base64url');
    await must('radosgw-admin', [
      '--conf',
      conf,
      '-n',
      'client.admin',
      'user',
      'create',
      '--uid',
      'registry',
      '--display-name',
      'registry',
      '--access-key',
      accessKeyId,
      '--secret-key',
      secretAccessKey,
    ]);

    const signed = (method: string, url: string) => [
      '-s',
      '-S',
      '-X',
      method,
      '--aws-sigv4',
      `aws:amz:${REGION}:s3`,
      '-u',
      `${accessKeyId}:${secretAccessKey}`,
      '-H',
      'x-amz-content-sha256: UNSIGNED-PAYLOAD',
      '-w',
      '\n%{http_code}',
      url,
    ];
    const s3 = async (method: string, url: string): Promise<string> => {
      const out = await must('curl', signed(method, url));
      const status = out.slice(out.lastIndexOf('\n') + 1);
      if (!status.startsWith('2')) throw new Error(`${method} ${url} answered ${status}:\n${out}`);
      return out.slice(0, out.lastIndexOf('\n'));
    };

    return {
      endpoint,
      region: REGION,
      accessKeyId,
      secretAccessKey,
      pids: { mon: mon.pid, osd: osd.pid, rgw: rgw.pid },
      createBucket: async (bucket) => {
        await s3('PUT', `${endpoint}/${bucket}`);
      },
      listKeys: async (bucket, prefix = '') => {
        const xml = await s3('GET', `${endpoint}/${bucket}?list-type=2&prefix=${encodeURIComponent(prefix)}`);
        return [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => match[1]);
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** true once anything answers HTTP at `url`, whatever the status: asked in-process, not by a curl per poll. */
function answersHttp(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = httpRequest(url, { agent: false, timeout: 2_000 }, (res) => {
      res.resume();
      resolve(true);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

async function distinctFreePorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freeLoopbackPort());
  return [...ports];
}
