import { ValidationError } from './validate';

/**
 * The k3s image the k3d config pins. k3d's default is whatever k3s was stable when that k3d was built, so
 * the same config would give different registry handling on different desktops. v1.32.5+k3s1: a v1.32
 * patch release (a line k3d v5.8 supports) well past v1.29.4, where k3s's registries.yaml → hosts.toml
 * rules (commit f2961fb5d, PR #9853) took their current form, and past v1.32.2, where k3s moved to
 * containerd 2.0, which reads the same hosts.toml.
 */
export const DEFAULT_K3S_IMAGE = 'rancher/k3s:v1.32.5-k3s1';

/** What is wrong with a k3s version for this registry, or undefined when nothing is known to be. */
export function k3sVersionProblem(version: string): string | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (match === null) return undefined;
  const [minor, patch] = [Number(match[2]), Number(match[3])];
  if (Number(match[1]) !== 1) return undefined;
  const fixedIn = 'v1.29.4, v1.28.9 and v1.27.13 (k3s PR #9853)';
  if (minor === 26) {
    return `k3s v1.26 writes registry hosts.toml files containerd 1.7 rejects from v1.26.15 on and never got the fix of ${fixedIn}; v1.26 is also out of support`;
  }
  const broken: Record<number, number> = { 29: 3, 28: 8, 27: 12 };
  if (broken[minor] === patch) {
    return `k3s v1.${minor}.${patch} writes hosts.toml without a [host] table, which containerd 1.7 rejects ("invalid \`host\` tree"), so pulls by the registry's hostname fail; fixed in ${fixedIn}`;
  }
  return undefined;
}

/** The k3s version in an image reference such as rancher/k3s:v1.32.5-k3s1. */
export function k3sVersionOfImage(image: string): string | undefined {
  const tag = /:([^:/@]+)(@.*)?$/.exec(image)?.[1];
  return tag === undefined ? undefined : /^v\d+\.\d+\.\d+/.exec(tag)?.[0];
}

/** Refuses an image without a version tag, or of a k3s version known to break the registry. */
export function assertKnownGoodK3sImage(field: string, image: string): void {
  const version = k3sVersionOfImage(image);
  if (version === undefined) {
    throw new ValidationError(
      `'${field}' must name a k3s version tag, got ${JSON.stringify(image)}: pin one such as ${DEFAULT_K3S_IMAGE} (a floating tag gives each desktop a different k3s)`,
    );
  }
  const problem = k3sVersionProblem(version);
  if (problem !== undefined) {
    throw new ValidationError(
      `'${field}' is ${JSON.stringify(image)}: ${problem}: use ${DEFAULT_K3S_IMAGE} or any k3s from v1.29.4 on`,
    );
  }
}
