import { execFileSync } from 'node:child_process';
import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RunResult, run } from './run';

let appletDir: string | undefined;

/** The absolute path of the busybox binary (scripts run with a PATH that does not hold it). */
export function busyboxBinary(): string {
  return execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim();
}

/**
 * A PATH holding only busybox applets, so scripts meet busybox's awk, cmp, mktemp and nslookup as in
 * the busybox image, not the host's GNU tools. Debian builds busybox without the flock applet (the
 * image has it), so util-linux's flock, the same flock(2) call, stands in for that one.
 */
export function busyboxPath(): string {
  if (appletDir === undefined) {
    appletDir = mkdtempSync(join(tmpdir(), 'busybox-applets-'));
    const busybox = busyboxBinary();
    for (const applet of execFileSync(busybox, ['--list'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
      symlinkSync(busybox, join(appletDir, applet));
    }
    symlinkSync(execFileSync('sh', ['-c', 'command -v flock'], { encoding: 'utf8' }).trim(), join(appletDir, 'flock'));
  }
  return appletDir;
}

/** Runs a shell script file under `busybox sh` with only busybox applets on PATH. */
export function runUnderBusybox(scriptFile: string, env: Record<string, string>, timeoutMs = 20_000): Promise<RunResult> {
  return run(busyboxBinary(), ['sh', scriptFile], { env: { PATH: busyboxPath(), ...env }, timeoutMs });
}
