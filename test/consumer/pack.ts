import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The consumer suite's global setup, after test/global-setup.ts (which gave the run its own TMPDIR): packs
 * the package exactly as it would be published (`npm pack` runs prepack, the build) and hands the tarball's
 * path to the suites in CONSUMER_TARBALL.
 */
export default function setup(): void {
  const packDir = mkdtempSync(join(tmpdir(), 'pack-'));
  execFileSync('npm', ['pack', '--pack-destination', packDir, '--loglevel=warn'], {
    cwd: join(__dirname, '..', '..'),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const [tarball] = readdirSync(packDir).filter((file) => file.endsWith('.tgz'));
  process.env.CONSUMER_TARBALL = join(packDir, tarball);
}
