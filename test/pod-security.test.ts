import { Testing } from 'cdk8s';
import { describe, expect, it } from 'vitest';
import { RegistryChart } from '../lib';
import { POD_SECURITY_VERSION, podSecurityLabels } from '../lib/pod-security';
import { CUSTOM_MATERIAL_OPTIONS } from './fixtures/make-material-fixture';
import { customFixtureMaterial, findObject, fixtureMaterial } from './support/fixture-material';
import { type PodSecurityLevel, podSecurityViolations, podSpecOf } from './support/pod-security';

/** Every workload of `manifests` with the Pod Security level its Namespace enforces. */
function workloadsWithLevels(manifests: any[]): { name: string; level: PodSecurityLevel; spec: any }[] {
  const levels = new Map<string, PodSecurityLevel>(
    manifests
      .filter((object) => object.kind === 'Namespace')
      .map((object) => [object.metadata.name, object.metadata.labels?.['pod-security.kubernetes.io/enforce']]),
  );
  return manifests
    .filter((object) => podSpecOf(object) !== undefined)
    .map((object) => {
      const level = levels.get(object.metadata.namespace);
      if (level === undefined)
        throw new Error(`${object.kind} ${object.metadata.name}: its Namespace is not in the output or has no level`);
      return { name: `${object.kind} ${object.metadata.name}`, level, spec: podSpecOf(object) };
    });
}

describe('Pod Security Standards', () => {
  const defaults = Testing.synth(new RegistryChart(Testing.app(), 'registry', { material: fixtureMaterial() }));
  const custom = Testing.synth(
    new RegistryChart(Testing.app(), 'registry', {
      material: customFixtureMaterial(),
      namespace: CUSTOM_MATERIAL_OPTIONS.namespace,
      serviceName: CUSTOM_MATERIAL_OPTIONS.serviceName,
    }),
  );

  it("the registry's Namespace enforces, warns and audits restricted at a pinned version", () => {
    const namespace: any = findObject(defaults, 'Namespace', 'container-registry');
    expect(namespace.metadata.labels).toEqual({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': POD_SECURITY_VERSION,
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/warn-version': POD_SECURITY_VERSION,
      'pod-security.kubernetes.io/audit': 'restricted',
      'pod-security.kubernetes.io/audit-version': POD_SECURITY_VERSION,
    });
    expect(POD_SECURITY_VERSION).toMatch(/^v1\.\d+$/);
  });

  it('the hosts DaemonSet and its ConfigMap live in a Namespace of their own, at privileged', () => {
    const daemonSet = findObject(defaults, 'DaemonSet');
    expect(daemonSet.metadata.namespace).toBe('container-registry-node-hosts');
    expect(findObject(defaults, 'ConfigMap', 'container-registry-node-hosts').metadata.namespace).toBe(
      'container-registry-node-hosts',
    );
    expect((findObject(defaults, 'Namespace', 'container-registry-node-hosts') as any).metadata.labels).toEqual(
      podSecurityLabels('privileged'),
    );
    // Nothing else shares the privileged Namespace.
    expect(
      defaults.filter((object) => object.metadata.namespace === 'container-registry-node-hosts').map((o) => o.kind),
    ).toEqual(['ConfigMap', 'DaemonSet']);
    // It finds the Service across namespaces by DNS; the same-namespace service-link fallback is gone.
    const env = daemonSet.spec.template.spec.containers[0].env;
    expect(env).toContainEqual({
      name: 'SERVICE_DNS_NAME',
      value: 'container-registry.container-registry.svc.cluster.local',
    });
    expect(env.map((variable: { name: string }) => variable.name)).not.toContain('SERVICE_IP_FALLBACK');
  });

  it('the Namespaces come before everything in them, so kubectl apply -f dist works on an empty cluster', () => {
    const firstOther = defaults.findIndex((object) => object.kind !== 'Namespace');
    expect(defaults.slice(0, firstOther).map((object) => object.metadata.name)).toEqual([
      'container-registry',
      'container-registry-node-hosts',
    ]);
  });

  for (const [name, manifests] of [
    ['defaults', defaults],
    ['custom', custom],
  ] as const) {
    it(`every pod spec meets the level its Namespace enforces (${name})`, () => {
      const workloads = workloadsWithLevels(manifests);
      // The registry, the hosts DaemonSet and the garbage collection CronJob.
      expect(workloads.map((workload) => `${workload.name}: ${workload.level}`)).toHaveLength(3);
      for (const workload of workloads)
        expect(podSecurityViolations(workload.spec, workload.level), workload.name).toEqual([]);
    });
  }

  it('the registry meets restricted; the hosts DaemonSet breaks baseline only by its hostPath', () => {
    expect(podSecurityViolations(podSpecOf(findObject(defaults, 'Deployment'))!, 'restricted')).toEqual([]);
    const hosts = podSpecOf(findObject(defaults, 'DaemonSet'))!;
    expect(podSecurityViolations(hosts, 'baseline')).toEqual(['hostPath volume node-hosts-file']);
    expect(podSecurityViolations(hosts, 'restricted')).toEqual([
      'hostPath volume node-hosts-file',
      'volume type hostPath (node-hosts-file)',
      'runAsNonRoot must be true (container node-hosts)',
      'runAsUser 0 (container node-hosts)',
    ]);
  });

  it('is refused when the hosts DaemonSet would share the restricted Namespace', () => {
    expect(
      () =>
        new RegistryChart(Testing.app(), 'registry', {
          material: fixtureMaterial(),
          nodeHostsNamespace: 'container-registry',
        }),
    ).toThrow(
      `'nodeHostsNamespace' must differ from 'namespace', got "container-registry" for both: the registry's Namespace enforces Pod Security "restricted", which the hosts DaemonSet's hostPath breaks`,
    );
  });
});

describe('podSecurityViolations (the test helper) catches each rule', () => {
  const good = {
    securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: 'c',
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      },
    ],
    volumes: [{ name: 'v', emptyDir: {} }],
  };
  const withContainer = (securityContext: object, extra: object = {}) => ({
    ...good,
    containers: [
      {
        ...good.containers[0],
        ...extra,
        securityContext: { ...good.containers[0].securityContext, ...securityContext },
      },
    ],
  });
  const cases: { name: string; spec: any; baseline: string[]; restricted: string[] }[] = [
    { name: 'a good spec', spec: good, baseline: [], restricted: [] },
    {
      name: 'hostNetwork',
      spec: { ...good, hostNetwork: true },
      baseline: ['host namespaces: hostNetwork'],
      restricted: ['host namespaces: hostNetwork'],
    },
    {
      name: 'hostPID',
      spec: { ...good, hostPID: true },
      baseline: ['host namespaces: hostPID'],
      restricted: ['host namespaces: hostPID'],
    },
    {
      name: 'hostIPC',
      spec: { ...good, hostIPC: true },
      baseline: ['host namespaces: hostIPC'],
      restricted: ['host namespaces: hostIPC'],
    },
    {
      name: 'privileged',
      spec: withContainer({ privileged: true }),
      baseline: ['privileged containers (container c)'],
      restricted: ['privileged containers (container c)'],
    },
    {
      name: 'SYS_ADMIN',
      spec: withContainer({ capabilities: { drop: ['ALL'], add: ['SYS_ADMIN'] } }),
      baseline: ['capabilities beyond the baseline set (container c)'],
      restricted: [
        'capabilities beyond the baseline set (container c)',
        'capabilities may add only NET_BIND_SERVICE (container c)',
      ],
    },
    {
      name: 'CHOWN added',
      spec: withContainer({ capabilities: { drop: ['ALL'], add: ['CHOWN'] } }),
      baseline: [],
      restricted: ['capabilities may add only NET_BIND_SERVICE (container c)'],
    },
    {
      name: 'no drop ALL',
      spec: withContainer({ capabilities: {} }),
      baseline: [],
      restricted: ['capabilities must drop ALL (container c)'],
    },
    {
      name: 'hostPath',
      spec: { ...good, volumes: [{ name: 'h', hostPath: { path: '/' } }] },
      baseline: ['hostPath volume h'],
      restricted: ['hostPath volume h', 'volume type hostPath (h)'],
    },
    {
      name: 'nfs volume',
      spec: { ...good, volumes: [{ name: 'n', nfs: { server: 'x', path: '/' } }] },
      baseline: [],
      restricted: ['volume type nfs (n)'],
    },
    {
      name: 'hostPort',
      spec: withContainer({}, { ports: [{ containerPort: 80, hostPort: 80 }] }),
      baseline: ['host ports (container c)'],
      restricted: ['host ports (container c)'],
    },
    {
      name: 'escalation allowed',
      spec: withContainer({ allowPrivilegeEscalation: true }),
      baseline: [],
      restricted: ['allowPrivilegeEscalation must be false (container c)'],
    },
    {
      name: 'root allowed',
      spec: { ...good, securityContext: { seccompProfile: { type: 'RuntimeDefault' } } },
      baseline: [],
      restricted: ['runAsNonRoot must be true (container c)'],
    },
    { name: 'uid 0', spec: withContainer({ runAsUser: 0 }), baseline: [], restricted: ['runAsUser 0 (container c)'] },
    {
      name: 'no seccomp',
      spec: { ...good, securityContext: { runAsNonRoot: true } },
      baseline: [],
      restricted: ['seccomp RuntimeDefault or Localhost (container c)'],
    },
    {
      name: 'seccomp Unconfined',
      spec: withContainer({ seccompProfile: { type: 'Unconfined' } }),
      baseline: ['seccomp Unconfined (container c)'],
      restricted: ['seccomp Unconfined (container c)', 'seccomp RuntimeDefault or Localhost (container c)'],
    },
    {
      name: 'procMount Unmasked',
      spec: withContainer({ procMount: 'Unmasked' }),
      baseline: ['/proc mount type (container c)'],
      restricted: ['/proc mount type (container c)'],
    },
    {
      name: 'SELinux user',
      spec: withContainer({ seLinuxOptions: { user: 'root' } }),
      baseline: ['SELinux (container c)'],
      restricted: ['SELinux (container c)'],
    },
    {
      name: 'unsafe sysctl',
      spec: { ...good, securityContext: { ...good.securityContext, sysctls: [{ name: 'kernel.msgmax', value: '1' }] } },
      baseline: ['sysctl kernel.msgmax'],
      restricted: ['sysctl kernel.msgmax'],
    },
  ];
  for (const { name, spec, baseline, restricted } of cases) {
    it(name, () => {
      expect(podSecurityViolations(spec, 'privileged')).toEqual([]);
      expect(podSecurityViolations(spec, 'baseline')).toEqual(baseline);
      expect(podSecurityViolations(spec, 'restricted')).toEqual(restricted);
    });
  }
});
