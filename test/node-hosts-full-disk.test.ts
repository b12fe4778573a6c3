import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { busyboxBinary, busyboxPath } from './support/busybox';
import { describeReal } from './support/real-software';
import { run } from './support/run';

/**
 * The hosts script on a full disk: /etc/hosts on a 12 KiB tmpfs (in a private mount namespace, so nothing
 * outside this test sees the mount) filled to the last byte. The file must stay byte for byte as it was,
 * with a log line that says why; a rewrite that needs no more room still goes through.
 */
const HOSTS = [
  '127.0.0.1 localhost',
  '::1 localhost ip6-localhost ip6-loopback',
  '172.18.0.2 k3d-dev-server-0',
  '172.18.0.1 host.k3d.internal',
  // tmpfs allocates whole 4 KiB pages: end near a page's end, so the new line needs a page the disk lacks.
  `# ${'k3d keeps this file; so do we. '.repeat(128)}`,
  '',
].join('\n');
const SCRIPT = join(__dirname, '..', 'lib', 'node-hosts.sh');

describeReal('the node hosts script on a full disk', ['busybox', 'flock', 'unshare', 'mount'], () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'node-hosts-full-'));
    copyFileSync(SCRIPT, join(dir, 'node-hosts.sh'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs the script once with `hosts` on a full 12 KiB tmpfs; returns the file afterwards and the log. */
  async function runOnFullDisk(hosts: string): Promise<{ code: number; after: string; log: string; free: string }> {
    writeFileSync(join(dir, 'hosts.before'), hosts);
    const mnt = join(dir, 'mnt');
    // Inside the namespace: mount, fill every free byte, run the script, copy the file out for the test.
    const inner = [
      'set -e',
      `mkdir -p ${mnt}`,
      `mount -t tmpfs -o size=12k tmpfs ${mnt}`,
      `cp ${dir}/hosts.before ${mnt}/hosts`,
      `head -c 1000000 /dev/zero > ${mnt}/filler 2>/dev/null || true`,
      `df -B1 --output=avail ${mnt} | tail -1 > ${dir}/free`,
      'set +e',
      `HOSTS_FILE=${mnt}/hosts SERVICE_IP_FALLBACK=10.43.12.34 RUN_ONCE=1 TMPDIR=${dir} PATH=${busyboxPath()} ${busyboxBinary()} sh ${dir}/node-hosts.sh > ${dir}/log 2>&1`,
      `echo $? > ${dir}/code`,
      `cp ${mnt}/hosts ${dir}/hosts.after`,
    ].join('\n');
    const result = await run('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', inner], {
      timeoutMs: 20_000,
    });
    expect(result.code, result.stderr).toBe(0);
    return {
      code: Number(readFileSync(join(dir, 'code'), 'utf8')),
      after: readFileSync(join(dir, 'hosts.after'), 'utf8'),
      log: readFileSync(join(dir, 'log'), 'utf8'),
      free: readFileSync(join(dir, 'free'), 'utf8').trim(),
    };
  }

  const sha = (text: string): string => createHash('sha256').update(text).digest('hex');

  it('leaves the file byte for byte as it was when it cannot grow, and logs why', async () => {
    const { code, after, log, free } = await runOnFullDisk(HOSTS);
    expect(free).toBe('0');
    expect(code).toBe(1);
    expect(after.length, log).toBe(HOSTS.length);
    expect(sha(after)).toBe(sha(HOSTS));
    expect(log).toMatch(
      /node-hosts: cannot grow .*\/hosts from 4089 to 4126 bytes \(disk full\?\): .* left as it was\n$/,
    );
  });

  it('still rewrites the file when the new one is no longer than the old one', async () => {
    const ours = '10.43.12.34 container-registry.local\n';
    const { code, after, log } = await runOnFullDisk(`${HOSTS}${ours}${ours}`);
    expect(code, log).toBe(0);
    expect(after).toBe(`${HOSTS}10.43.12.34 container-registry.local\n`);
    expect(log).toContain("node-hosts: wrote '10.43.12.34 container-registry.local'");
  });
});
