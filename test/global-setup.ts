import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Brings the build up to date (compiling only when the sources changed since the last build, like synth)
 * before any suite runs the synthesized app (build/charts/main.js) or the CLI's bin, and
 * gives the run a temp directory of its own (workers inherit TMPDIR), removed at the end, so nothing
 * the tests or cdk8s's Testing.app() put in temp outlives the run.
 *
 * What every test file shares, for a new suite to use (vitest.config.mts; measured in README "Performance"):
 * - Workers run file after file in one process (`isolate: false`): a module's state outlives the file. Keep
 *   per-file state in the test file, stop what you start in its afterAll (registries: stopAllRegistries()),
 *   and register no hooks at the top of a shared module (that module runs once per worker, not per file).
 * - `tempDir()` (test/support/temp-dir.ts, re-exported by test/cli/helpers.ts): a directory removed when
 *   the file ends (test/support/remove-temp-dirs.ts, a setup file).
 * - RSA-2048 keys are made from the primes of a committed pool (test/support/rsa-key-pool.ts, a setup file),
 *   each at most once per file, so `generateMaterial()`, `materialTemplate()` and in-process `init` or
 *   `certs renew` cost no key generation. A test that is about generating keys wraps it in
 *   `withRealKeyGeneration()`.
 * - `materialTemplate()` (test/cli/helpers.ts): material made once per file and copied per test.
 * - Big image layers are stored gzip (test/support/oci-image.ts): no CPU spent deflating random bytes.
 */
export default function setup(): () => void {
  execFileSync('node', ['charts/run.js', '--compile-only'], { cwd: join(__dirname, '..'), stdio: 'inherit' });
  // Short: containerd's socket paths under it must stay within the 108-byte limit of a unix socket.
  const runTemp = mkdtempSync(join(tmpdir(), 'cpr-'));
  process.env.TMPDIR = runTemp;
  return () => rmSync(runTemp, { recursive: true, force: true });
}
