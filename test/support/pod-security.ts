/**
 * The Pod Security Standards' checks, written from the rules of
 * https://kubernetes.io/docs/concepts/security/pod-security-standards/ (the "baseline" and "restricted"
 * tables), as a pure function of a pod spec: what Pod Security Admission would refuse at `level`.
 */
export type PodSecurityLevel = 'privileged' | 'baseline' | 'restricted';

type Json = Record<string, any>;

const BASELINE_CAPABILITIES = [
  'AUDIT_WRITE',
  'CHOWN',
  'DAC_OVERRIDE',
  'FOWNER',
  'FSETID',
  'KILL',
  'MKNOD',
  'NET_BIND_SERVICE',
  'SETFCAP',
  'SETGID',
  'SETPCAP',
  'SETUID',
  'SYS_CHROOT',
];
const SAFE_SYSCTLS = [
  'kernel.shm_rmid_forced',
  'net.ipv4.ip_local_port_range',
  'net.ipv4.ip_unprivileged_port_start',
  'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range',
  'net.ipv4.ip_local_reserved_ports',
  'net.ipv4.tcp_keepalive_time',
  'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl',
  'net.ipv4.tcp_keepalive_probes',
];
const SELINUX_TYPES = ['container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t'];
const RESTRICTED_VOLUME_TYPES = [
  'configMap',
  'csi',
  'downwardAPI',
  'emptyDir',
  'ephemeral',
  'persistentVolumeClaim',
  'projected',
  'secret',
];

/** The rules `spec` (a PodSpec) breaks at `level`, one line each; empty when it is allowed. */
export function podSecurityViolations(spec: Json, level: PodSecurityLevel): string[] {
  if (level === 'privileged') return [];
  const violations: string[] = [];
  const containers: Json[] = [
    ...(spec.initContainers ?? []),
    ...(spec.containers ?? []),
    ...(spec.ephemeralContainers ?? []),
  ];
  const pod: Json = spec.securityContext ?? {};
  const each = (rule: string, broken: (context: Json, container: Json) => boolean): void => {
    for (const container of containers) {
      if (broken(container.securityContext ?? {}, container)) violations.push(`${rule} (container ${container.name})`);
    }
  };

  // Baseline.
  if (pod.windowsOptions?.hostProcess === true) violations.push('HostProcess');
  each('HostProcess', (context) => context.windowsOptions?.hostProcess === true);
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'])
    if (spec[field] === true) violations.push(`host namespaces: ${field}`);
  each('privileged containers', (context) => context.privileged === true);
  each('capabilities beyond the baseline set', (context) =>
    (context.capabilities?.add ?? []).some((capability: string) => !BASELINE_CAPABILITIES.includes(capability)),
  );
  for (const volume of spec.volumes ?? [])
    if (volume.hostPath !== undefined) violations.push(`hostPath volume ${volume.name}`);
  each('host ports', (_context, container) =>
    (container.ports ?? []).some((port: Json) => port.hostPort !== undefined && port.hostPort !== 0),
  );
  const appArmorBroken = (profile: Json | undefined): boolean =>
    profile !== undefined && !['RuntimeDefault', 'Localhost'].includes(profile.type);
  if (appArmorBroken(pod.appArmorProfile)) violations.push('AppArmor');
  each('AppArmor', (context) => appArmorBroken(context.appArmorProfile));
  const seLinuxBroken = (options: Json | undefined): boolean =>
    options !== undefined &&
    ((options.type !== undefined && !SELINUX_TYPES.includes(options.type)) ||
      options.user !== undefined ||
      options.role !== undefined);
  if (seLinuxBroken(pod.seLinuxOptions)) violations.push('SELinux');
  each('SELinux', (context) => seLinuxBroken(context.seLinuxOptions));
  each('/proc mount type', (context) => context.procMount !== undefined && context.procMount !== 'Default');
  if (pod.seccompProfile?.type === 'Unconfined') violations.push('seccomp Unconfined');
  each('seccomp Unconfined', (context) => context.seccompProfile?.type === 'Unconfined');
  for (const sysctl of pod.sysctls ?? [])
    if (!SAFE_SYSCTLS.includes(sysctl.name)) violations.push(`sysctl ${sysctl.name}`);
  if (level === 'baseline') return violations;

  // Restricted.
  for (const volume of spec.volumes ?? []) {
    const type = Object.keys(volume).find((key) => key !== 'name');
    if (type === undefined || !RESTRICTED_VOLUME_TYPES.includes(type))
      violations.push(`volume type ${type} (${volume.name})`);
  }
  each('allowPrivilegeEscalation must be false', (context) => context.allowPrivilegeEscalation !== false);
  each(
    'runAsNonRoot must be true',
    (context) => context.runAsNonRoot === false || (context.runAsNonRoot === undefined && pod.runAsNonRoot !== true),
  );
  if (pod.runAsUser === 0) violations.push('runAsUser 0');
  each('runAsUser 0', (context) => context.runAsUser === 0);
  const seccompSet = (profile: Json | undefined): boolean => ['RuntimeDefault', 'Localhost'].includes(profile?.type);
  each('seccomp RuntimeDefault or Localhost', (context) =>
    context.seccompProfile === undefined ? !seccompSet(pod.seccompProfile) : !seccompSet(context.seccompProfile),
  );
  each('capabilities must drop ALL', (context) => !(context.capabilities?.drop ?? []).includes('ALL'));
  each('capabilities may add only NET_BIND_SERVICE', (context) =>
    (context.capabilities?.add ?? []).some((capability: string) => capability !== 'NET_BIND_SERVICE'),
  );
  return violations;
}

/** The pod spec of a workload object (Pod, Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob), or undefined. */
export function podSpecOf(object: Json): Json | undefined {
  switch (object.kind) {
    case 'Pod':
      return object.spec;
    case 'CronJob':
      return object.spec?.jobTemplate?.spec?.template?.spec;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job':
      return object.spec?.template?.spec;
    default:
      return undefined;
  }
}
