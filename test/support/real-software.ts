import { describe, it } from 'vitest';
import { findExecutable } from './child-process';

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
  ip: 'iproute2',
  ss: 'iproute2',
  flock: 'util-linux',
  unshare: 'util-linux',
  'ceph-mon': 'ceph-mon',
  monmaptool: 'ceph-mon',
  ceph: 'ceph-mon',
  'ceph-osd': 'ceph-osd',
  radosgw: 'radosgw',
  'radosgw-admin': 'radosgw',
};

export interface DescribeRealOptions {
  /** The suite needs root (network namespaces, containerd, privileged paths). @default true */
  readonly root?: boolean;
}

/** Which of these executables are not found on PATH. */
export function missingTools(tools: readonly string[]): string[] {
  return tools.filter((tool) => findExecutable(tool) === undefined);
}

/** Everything that prevents a real-software suite from running here; empty when it can run. */
function realSoftwareProblems(tools: readonly string[], needsRoot: boolean): string[] {
  const problems: string[] = [];
  const missing = missingTools(tools);
  if (missing.length > 0) {
    const packages = [...new Set(missing.map((tool) => DEBIAN_PACKAGE[tool] ?? tool))];
    problems.push(
      `missing executables: ${missing.join(', ')} (install: apt-get update && apt-get install -y ${packages.join(' ')})`,
    );
  }
  if (needsRoot && typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push(
      'not running as root (this suite starts containerd or network namespaces, or writes privileged paths; run as root)',
    );
  }
  return problems;
}

/**
 * `describe` for suites that drive real binaries. If the machine cannot run them, a developer gets a
 * loud skip with the fix; CI (CI=true) gets a failing test, so a broken CI image never passes silently.
 * Pass `{ root: false }` for a suite that runs as any user.
 */
export function describeReal(
  name: string,
  tools: readonly string[],
  fn: () => void,
  options: DescribeRealOptions = {},
): void {
  const problems = realSoftwareProblems(tools, options.root ?? true);
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
