/** The Pod Security Standards levels (https://kubernetes.io/docs/concepts/security/pod-security-standards/). */
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

/**
 * The version of the Pod Security Standards rules a Namespace is held to. Pinned, so a cluster upgrade
 * that tightens the rules warns before it enforces; the minor of the pinned k3s (DEFAULT_K3S_IMAGE).
 */
export const POD_SECURITY_VERSION = 'v1.32';

/**
 * The Pod Security Admission labels that enforce `level` on a Namespace, and warn and audit at the same
 * level, all at POD_SECURITY_VERSION.
 */
export function podSecurityLabels(level: PodSecurityLevel, version = POD_SECURITY_VERSION): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const mode of ['enforce', 'warn', 'audit']) {
    labels[`pod-security.kubernetes.io/${mode}`] = level;
    labels[`pod-security.kubernetes.io/${mode}-version`] = version;
  }
  return labels;
}
