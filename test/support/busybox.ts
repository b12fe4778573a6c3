import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable } from './child-process';
import { type RunResult, run } from './run';

let appletDir: string | undefined;

function executableOnPath(name: string): string {
  const path = findExecutable(name);
  if (path === undefined) throw new Error(`${name} is not on PATH (${process.env.PATH ?? ''})`);
  return path;
}

/**
 * Vitest ends its workers with SIGTERM, which skips 'exit' listeners: remove `dir` on either, then let
 * SIGTERM do what it would have done (once no listener is left, Node restores its default action).
 */
function removeWhenProcessEnds(dir: string): void {
  const remove = (): void => {
    process.off('exit', remove);
    process.off('SIGTERM', onSigterm);
    rmSync(dir, { recursive: true, force: true });
  };
  const onSigterm = (): void => {
    remove();
    process.kill(process.pid, 'SIGTERM');
  };
  process.once('exit', remove);
  process.once('SIGTERM', onSigterm);
}

/** The absolute path of the busybox binary (scripts run with a PATH that does not hold it). */
export function busyboxBinary(): string {
  return executableOnPath('busybox');
}

/**
 * A PATH holding only busybox applets, so scripts meet busybox's awk, cmp, mktemp and nslookup as in
 * the busybox image, not the host's GNU tools. Debian builds busybox without the flock applet (the
 * image has it), so util-linux's flock, the same flock(2) call, stands in for that one.
 * The directory is made once per process and removed when the process ends.
 */
export function busyboxPath(): string {
  if (appletDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'busybox-applets-'));
    removeWhenProcessEnds(dir);
    const busybox = busyboxBinary();
    for (const applet of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      symlinkSync(busybox, join(dir, applet));
    }
    symlinkSync(executableOnPath('flock'), join(dir, 'flock'));
    appletDir = dir;
  }
  return appletDir;
}

/** Runs a shell script file under `busybox sh` with only busybox applets on PATH. */
export function runUnderBusybox(
  scriptFile: string,
  env: Record<string, string>,
  timeoutMs = 20_000,
): Promise<RunResult> {
  return run(busyboxBinary(), ['sh', scriptFile], { env: { PATH: busyboxPath(), ...env }, timeoutMs });
}
