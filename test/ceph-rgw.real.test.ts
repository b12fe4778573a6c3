import { existsSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { CEPH_TOOLS, startCephRgw } from './support/ceph-rgw';
import { describeReal } from './support/real-software';
import { run } from './support/run';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** The test harness itself: a Ceph RGW that answers S3 on loopback, and leaves nothing behind when stopped. */
describeReal('the Ceph RGW test harness', CEPH_TOOLS, () => {
  it('serves S3 on 127.0.0.1 with signed requests only, and stops every daemon by PID and removes its dir', async () => {
    const ceph = await startCephRgw();
    const pids = Object.values(ceph.pids);
    let confDir: string | undefined;
    try {
      expect(ceph.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      for (const pid of pids) expect(alive(pid)).toBe(true);
      confDir = /--conf (\S+)\/ceph\.conf/.exec(
        readFileSync(`/proc/${ceph.pids.rgw}/cmdline`, 'utf8').replace(/\0/g, ' '),
      )?.[1];
      expect(confDir).toBeDefined();
      await ceph.createBucket('harness-bucket');
      expect(await ceph.listKeys('harness-bucket')).toEqual([]);
      // Unsigned: refused, so the registry's signed requests are what is being tested.
      const anonymous = await run('curl', [
        '-s',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code}',
        '-X',
        'PUT',
        `${ceph.endpoint}/anonymous-bucket`,
      ]);
      expect(anonymous.stdout).toBe('403');
    } finally {
      await ceph.stop();
    }
    for (const pid of pids) expect(alive(pid), `pid ${pid} still runs`).toBe(false);
    expect(existsSync(confDir as string)).toBe(false);
  }, 60_000);
});
