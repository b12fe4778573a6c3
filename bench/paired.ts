/**
 * Paired measurements: each round runs A and its floor B back to back, in alternating order (A B, B A,
 * A B, ...), so a load that comes and goes on a shared machine hits both sides alike. What is reported is
 * the ratio A/B of each round: its median and range.
 */
import { spawnSync } from 'node:child_process';

export interface PairedResult {
  readonly name: string;
  readonly floor: string;
  /** Seconds per round. */
  readonly a: number[];
  readonly b: number[];
  /** a[i] / b[i]. */
  readonly ratios: number[];
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
  a: () => Promise<number> | number;
  b: () => Promise<number> | number;
  beforeA?: () => void;
}): Promise<PairedResult> {
  const a: number[] = [];
  const b: number[] = [];
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
  return { name: options.name, floor: options.floor, a, b, ratios: a.map((value, index) => value / b[index]) };
}

/** Wall seconds of one run of a command, which must exit 0. */
export function timed(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {},
): number {
  const start = process.hrtime.bigint();
  const result = spawnSync(command, args, {
    cwd: options.cwd,
    env: options.env,
    input: options.input,
    encoding: 'utf8',
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  }
  return seconds;
}

const ms = (seconds: number): string => `${Math.round(seconds * 1000)} ms`;
const times = (ratio: number): string => `${ratio.toFixed(2)}x`;

/** A Markdown table: one row per pair, the median of each side and the median and range of the ratio. */
export function table(results: readonly PairedResult[]): string {
  const rows = results.map((result) => {
    const range = `${times(Math.min(...result.ratios))}–${times(Math.max(...result.ratios))}`;
    return `| ${result.name} | ${ms(median(result.a))} | ${result.floor} | ${ms(median(result.b))} | **${times(median(result.ratios))}** | ${range} |`;
  });
  return [
    '| what | median | floor | floor median | ratio, median | ratio, range |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows,
  ].join('\n');
}
