/**
 * Paired measurements: each round runs A and its floor B back to back, in alternating order (A B, B A,
 * A B, ...), so a load that comes and goes on a shared machine hits both sides alike. What is reported is
 * the ratio A/B of each round: its median and range.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Where the measured command's stderr goes (bash's own stderr carries the CPU times). */
const STDERR_FILE = join(tmpdir(), `bench-stderr-${process.pid}.txt`);

export interface PairedResult {
  readonly name: string;
  readonly floor: string;
  /** Wall seconds per round. */
  readonly a: number[];
  readonly b: number[];
  /** a[i] / b[i]. */
  readonly ratios: number[];
  /** The same for CPU seconds (user + system, the command and its children): steadier on a loaded machine. */
  readonly cpuRatios: number[];
}

/** Wall and CPU seconds of one run. */
export interface Timing {
  readonly wall: number;
  readonly cpu: number;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** `rounds` rounds of A and B; `before` runs ahead of each A, untimed (e.g. to remove what A creates). */
export async function paired(options: {
  name: string;
  floor: string;
  rounds: number;
  a: () => Promise<Timing> | Timing;
  b: () => Promise<Timing> | Timing;
  beforeA?: () => void;
}): Promise<PairedResult> {
  const a: Timing[] = [];
  const b: Timing[] = [];
  // One untimed warm-up of each: the first run after a build pays for cold file caches.
  options.beforeA?.();
  await options.a();
  await options.b();
  for (let round = 0; round < options.rounds; round++) {
    options.beforeA?.();
    if (round % 2 === 0) {
      a.push(await options.a());
      b.push(await options.b());
    } else {
      const floor = await options.b();
      options.beforeA?.();
      a.push(await options.a());
      b.push(floor);
    }
  }
  return {
    name: options.name,
    floor: options.floor,
    a: a.map((timing) => timing.wall),
    b: b.map((timing) => timing.wall),
    ratios: a.map((timing, index) => timing.wall / b[index].wall),
    cpuRatios: a.map((timing, index) => timing.cpu / b[index].cpu),
  };
}

/**
 * Wall and CPU seconds of one run of a command, which must exit 0. The CPU time is what bash's `time`
 * reports for it (user + system, children included); the wall time is taken around bash, whose own start
 * (a few milliseconds) both sides of a pair pay alike.
 */
export function timed(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): Timing {
  const start = process.hrtime.bigint();
  const result = spawnSync(
    'bash',
    ['-c', 'TIMEFORMAT="%3U %3S"; time "$@" 2>"$BENCH_STDERR"', 'bash', command, ...args],
    {
      cwd: options.cwd,
      env: { ...(options.env ?? process.env), BENCH_STDERR: STDERR_FILE },
      input: options.input ?? '',
      encoding: 'utf8',
    },
  );
  const wall = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) {
    throw new Error(
      `${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${readFileSync(STDERR_FILE, 'utf8')}`,
    );
  }
  const [user, system] = result.stderr.trim().split('\n').at(-1)!.split(' ').map(Number);
  return { wall, cpu: user + system };
}

const ms = (seconds: number): string => `${Math.round(seconds * 1000)} ms`;
const times = (ratio: number): string => `${ratio.toFixed(2)}x`;

/** A Markdown table: one row per pair, the median of each side and the median and range of the ratio. */
export function table(results: readonly PairedResult[]): string {
  const rows = results.map((result) => {
    const range = (ratios: number[]): string => `${times(Math.min(...ratios))}–${times(Math.max(...ratios))}`;
    return `| ${result.name} | ${ms(median(result.a))} | ${result.floor} | ${ms(median(result.b))} | **${times(median(result.ratios))}** | ${range(result.ratios)} | ${times(median(result.cpuRatios))} (${range(result.cpuRatios)}) |`;
  });
  return [
    '| what | median | floor | floor median | wall ratio, median | wall ratio, range | CPU ratio, median (range) |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
