import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

/** The Debian package that provides each executable the real-software suites use. */
const DEBIAN_PACKAGE: Readonly<Record<string, string>> = {
  'docker-registry': 'docker-registry',
  skopeo: 'skopeo',
  containerd: 'containerd',
  ctr: 'containerd',
  busybox: 'busybox',
  socat: 'socat',
  openssl: 'openssl',
  curl: 'curl',
  strace: 'strace',
};

function isExecutableFile(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Which of these executables are not found on PATH. */
export function missingTools(tools: readonly string[]): string[] {
  const dirs = (process.env.PATH ?? '').split(delimiter).filter((d) => d !== '');
  return tools.filter((tool) => !dirs.some((dir) => isExecutableFile(join(dir, tool))));
}

/** Everything that prevents a real-software suite from running here; empty when it can run. */
export function realSoftwareProblems(tools: readonly string[]): string[] {
  const problems: string[] = [];
  const missing = missingTools(tools);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((tool) => DEBIAN_PACKAGE[tool] ?? tool))];
    problems.push(
      `missing executables: ${missing.join(', ')} (install: apt-get update && apt-get install -y ${packages.join(' ')})`,
    );
  }
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push('not running as root (these suites start containerd and write privileged paths; run as root)');
  }
  return problems;
}

/**
 * `describe` for suites that drive real binaries. If the machine cannot run them, a developer gets a
 * loud skip with the fix; CI (CI=true) gets a failing test, so a broken CI image never passes silently.
 */
export function describeReal(name: string, tools: readonly string[], fn: () => void): void {
  const problems = realSoftwareProblems(tools);
  if (problems.length === 0) {
    describe(name, fn);
    return;
  }
  const reason = `real-software suite "${name}" cannot run: ${problems.join('; ')}`;
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('has the real software it needs (CI=true never skips)', () => {
        throw new Error(reason);
      });
    });
    return;
  }
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\nSKIPPING ${reason}\n${bar}\n`);
  describe.skip(name, fn);
}
