/**
 * The two RSA-2048 keys of new material: made from four primes (lib/rsa-key.ts, what a first synth does)
 * against OpenSSL's own key generation (`generateKeyPair('rsa')`, what it did), both in Node's thread pool,
 * both sides' two keys at the same time, alternated round by round.
 *   npm run bench -- bench/rsa-key.bench.ts      (BENCH_ROUNDS=N; default 41: the time is random per key)
 */
import { generateKeyPair } from 'node:crypto';
import { loadavg } from 'node:os';
import { it } from 'vitest';
import { generateRsaPrivateKey } from '../lib/rsa-key';
import { type Timing, median, paired, table } from './paired';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 41);

/** Wall and CPU seconds (the whole process: the thread pool's threads included) of `work`. */
async function timedInProcess(work: () => Promise<unknown>): Promise<Timing> {
  const cpuBefore = process.cpuUsage();
  const start = process.hrtime.bigint();
  await work();
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  return { wall, cpu: (cpu.user + cpu.system) / 1e6 };
}

const opensslKey = () =>
  new Promise<void>((resolve, reject) =>
    generateKeyPair('rsa', { modulusLength: 2048 }, (error) => (error ? reject(error) : resolve())),
  );

it('two RSA-2048 keys from primes, against OpenSSL key generation', { timeout: 600_000 }, async () => {
  const load = loadavg()[0];
  const result = await paired({
    name: 'two RSA-2048 keys from four primes (lib/rsa-key.ts)',
    floor: "two keys of OpenSSL's `generateKeyPair('rsa')`",
    rounds: ROUNDS,
    a: () => timedInProcess(() => Promise.all([generateRsaPrivateKey(2048), generateRsaPrivateKey(2048)])),
    b: () => timedInProcess(() => Promise.all([opensslKey(), opensslKey()])),
  });
  const quantile = (values: number[], q: number) =>
    Math.round([...values].sort((x, y) => x - y)[Math.floor(q * (values.length - 1))] * 1000);
  process.stdout.write(
    `\n${table([result])}\n\n${ROUNDS} rounds, load average ${load.toFixed(2)} → ${loadavg()[0].toFixed(2)}; wall ms p50/p90/max: primes ${quantile(result.a, 0.5)}/${quantile(result.a, 0.9)}/${quantile(result.a, 1)}, OpenSSL ${quantile(result.b, 0.5)}/${quantile(result.b, 0.9)}/${quantile(result.b, 1)}; median ratio ${median(result.ratios).toFixed(2)}x\n`,
  );
});
