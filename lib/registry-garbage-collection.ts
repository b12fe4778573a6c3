import { Chart } from 'cdk8s';
import { Construct } from 'constructs';
import { k8s } from 'cdk8s-plus-28';
import type { RegistryServer } from './registry-server';
import { ValidationError, assertPinnedImage } from './validate';

/** What to collect, when, and with which kubectl. */
export interface RegistryGarbageCollectionProps {
  /** The registry whose Deployment is made read-only while its storage is collected. */
  readonly registry: RegistryServer;
  /**
   * When to collect, as a cron schedule. Each run restarts the registry twice, and pushes fail (retryably) while
   * it is read-only.
   * @default - none: the CronJob is suspended and runs only when asked (kubectl create job --from=cronjob/<name>)
   */
  readonly schedule?: string;
  /** An image with kubectl; it needs no shell. @default 'registry.k8s.io/kubectl:v1.31.4' */
  readonly kubectlImage?: string;
  /**
   * The registry's config file inside its image, for `registry garbage-collect` (the environment overrides it).
   * @default - '/etc/docker/registry/config.yml' for registry:2 images, else '/etc/distribution/config.yml'
   */
  readonly configPath?: string;
  /** How long each wait for the registry's rollout may take. @default 300 */
  readonly rolloutTimeoutSeconds?: number;
  /** Name of the CronJob, its ServiceAccount, Role and RoleBinding. @default '<registry name>-gc' */
  readonly name?: string;
}

/** distribution reads maintenance.readonly from this variable: an object, as `..._READONLY_ENABLED` panics. */
export const READ_ONLY_ENV = { name: 'REGISTRY_STORAGE_MAINTENANCE_READONLY', value: '{"enabled":true}' } as const;

const CRON = /^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$/;

/**
 * Reclaims the disk of deleted images without ever losing a push. `registry garbage-collect` deletes every blob
 * no manifest refers to when it looks, so a push landing while it runs can lose its layers (distribution's
 * documentation; test/garbage-collection.real.test.ts shows it). A Job, one step per container in order:
 *
 * 1. sets REGISTRY_STORAGE_MAINTENANCE_READONLY on the Deployment; with the Recreate strategy the read-write pod
 *    is gone (its requests ended) before the read-only one starts;
 * 2. waits for that rollout: pushes now get 405 (retryable), pulls work;
 * 3. runs `registry garbage-collect` in the registry container, on its volume, without --delete-untagged
 *    (which deletes the layers of multi-arch images, distribution#3178);
 * 4. removes the variable: the registry takes pushes again after one more restart.
 *
 * If a step fails the registry stays read-only: pushes keep failing with 405 and nothing is lost; the README
 * says how to return to read-write. Its Role may only patch this Deployment and exec into pods of its namespace.
 */
export class RegistryGarbageCollection extends Construct {
  public readonly name: string;
  public readonly cronJob: k8s.KubeCronJob;

  constructor(scope: Construct, id: string, props: RegistryGarbageCollectionProps) {
    super(scope, id);
    const { registry } = props;
    const deployment = registry.serviceName;
    this.name = props.name ?? `${deployment}-gc`;
    const kubectlImage = props.kubectlImage ?? 'registry.k8s.io/kubectl:v1.31.4';
    const configPath =
      props.configPath ??
      (/(^|\/)registry:2[.@]/.test(registry.image)
        ? '/etc/docker/registry/config.yml'
        : '/etc/distribution/config.yml');
    const timeout = props.rolloutTimeoutSeconds ?? 300;
    assertPinnedImage('kubectlImage', kubectlImage);
    if (props.schedule !== undefined && !CRON.test(props.schedule.trim())) {
      throw new ValidationError(
        `'schedule' must be a cron schedule of five fields or @daily/@weekly/..., got ${JSON.stringify(props.schedule)}: for Sundays at 03:00 write "0 3 * * 0"`,
      );
    }
    if (!Number.isInteger(timeout) || timeout < 30) {
      throw new ValidationError(
        `'rolloutTimeoutSeconds' must be a whole number of at least 30, got ${timeout}: the registry pod needs time to restart`,
      );
    }
    if (registry.storage.sharedByReplicas) {
      throw new ValidationError(
        `garbage collection needs the registry's Recreate strategy, but its storage is shared by replicas (S3 or ReadWriteMany, RollingUpdate): an old read-write pod could still take a push while the storage is collected; use a ReadWriteOnce volume with one replica, or collect with every replica stopped`,
      );
    }

    const namespace = Chart.of(this).namespace ?? 'default';
    const labels = { 'app.kubernetes.io/name': this.name, 'app.kubernetes.io/component': 'garbage-collection' };
    const serviceAccount = new k8s.KubeServiceAccount(this, 'ServiceAccount', {
      metadata: { name: this.name, labels },
    });
    const role = new k8s.KubeRole(this, 'Role', {
      metadata: { name: this.name, labels },
      rules: [
        // set env (get, patch) and rollout status (list and watch by name) on this Deployment only.
        {
          apiGroups: ['apps'],
          resources: ['deployments'],
          resourceNames: [deployment],
          verbs: ['get', 'patch', 'list', 'watch'],
        },
        // exec deployment/<name> finds its pod by the Deployment's selector.
        { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
        // kubectl >= 1.30 execs over WebSockets, a GET; older ones POST.
        { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
      ],
    });
    new k8s.KubeRoleBinding(this, 'RoleBinding', {
      metadata: { name: this.name, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.name },
      subjects: [{ kind: 'ServiceAccount', name: serviceAccount.name, namespace }],
    });

    const target = `deployment/${deployment}`;
    const step = (name: string, args: string[]): k8s.Container => ({
      name,
      image: kubectlImage,
      command: ['kubectl'],
      args: ['--namespace', namespace, ...args],
      // kubectl keeps its discovery cache under $HOME.
      env: [{ name: 'HOME', value: '/tmp' }],
      volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
      securityContext: {
        allowPrivilegeEscalation: false,
        privileged: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'] },
      },
    });
    this.cronJob = new k8s.KubeCronJob(this, 'CronJob', {
      metadata: { name: this.name, labels },
      spec: {
        schedule: props.schedule ?? '0 3 * * 0',
        suspend: props.schedule === undefined,
        concurrencyPolicy: 'Forbid',
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          spec: {
            // A failed step leaves the registry read-only, which is safe; no blind retries.
            backoffLimit: 0,
            activeDeadlineSeconds: 3 * timeout + 3600,
            template: {
              metadata: { labels },
              spec: {
                serviceAccountName: serviceAccount.name,
                restartPolicy: 'Never',
                securityContext: {
                  runAsNonRoot: true,
                  runAsUser: 65532,
                  runAsGroup: 65532,
                  seccompProfile: { type: 'RuntimeDefault' },
                },
                // Init containers run one after another, each only if the one before succeeded.
                initContainers: [
                  step('read-only', [
                    'set',
                    'env',
                    target,
                    '-c',
                    'registry',
                    `${READ_ONLY_ENV.name}=${READ_ONLY_ENV.value}`,
                  ]),
                  step('wait-read-only', ['rollout', 'status', target, `--timeout=${timeout}s`]),
                  step('collect-garbage', [
                    'exec',
                    target,
                    '-c',
                    'registry',
                    '--',
                    'registry',
                    'garbage-collect',
                    configPath,
                  ]),
                ],
                containers: [step('read-write', ['set', 'env', target, '-c', 'registry', `${READ_ONLY_ENV.name}-`])],
                volumes: [{ name: 'tmp', emptyDir: { sizeLimit: k8s.Quantity.fromString('16Mi') } }],
              },
            },
          },
        },
      },
    });
  }
}
