import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Brings the build up to date (compiling only when the sources changed since the last build, like synth)
 * before any suite runs the synthesized app (build/charts/main.js) or the CLI's bin, and
 * gives the run a temp directory of its own (workers inherit TMPDIR), removed at the end, so nothing
 * the tests or cdk8s's Testing.app() put in temp outlives the run.
 */
export default function setup(): () => void {
  execFileSync('node', ['charts/run.js', '--compile-only'], { cwd: join(__dirname, '..'), stdio: 'inherit' });
  // Short: containerd's socket paths under it must stay within the 108-byte limit of a unix socket.
  const runTemp = mkdtempSync(join(tmpdir(), 'cpr-'));
  process.env.TMPDIR = runTemp;
  return () => rmSync(runTemp, { recursive: true, force: true });
}
