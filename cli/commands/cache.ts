import path from 'node:path';
import { cacheObjectNames, cacheSlug } from '../../lib/cache-upstreams';
import { DEFAULT_NAMESPACE, DEFAULT_SERVICE_NAME } from '../../lib/defaults';
import { CACHES_FILE } from '../../lib/material-caches-file';
import {
  addMaterialCache,
  listMaterialCaches,
  removeMaterialCache,
  setMaterialCacheCredentials,
} from '../../lib/material-caches';
import { ValidationError, assertDnsLabel } from '../../lib/validate';
import type { CommandBody, FlagSpec, PositionalSpec } from '../command-line';
import { applyCommandFor, withFlagNames } from '../flags';
import { type CliIo, EXIT_OK, type ExitCode, readPasswordFromStdin } from '../io';

export interface CacheAddArgs {
  readonly dir: string;
  readonly upstream: string;
  readonly port?: number;
  readonly ttl?: string;
  readonly remoteUrl?: string;
}

export interface CacheUpstreamArgs {
  readonly dir: string;
  readonly upstream: string;
}

/** A change that leaves objects in the cluster that kubectl apply does not delete: the namespace to name. */
export interface CacheClusterArgs extends CacheUpstreamArgs {
  /** The registry's namespace, when not the default. */
  readonly namespace?: string;
}

export interface CacheLoginArgs extends CacheUpstreamArgs {
  readonly username: string;
  readonly passwordStdin: boolean;
}

export interface CacheListArgs {
  readonly dir: string;
  readonly json: boolean;
}

const FLAGS = {
  upstream: 'UPSTREAM',
  remoteUrl: '--remote-url',
  port: '--port',
  ttl: '--ttl',
  username: '--username',
  password: 'the token or password on stdin (--password-stdin)',
  namespace: '--namespace',
};

/** The namespace the kubectl hints name: --namespace, checked before anything changes, or the default. */
function namespaceOf(args: CacheClusterArgs): string {
  if (args.namespace === undefined) return DEFAULT_NAMESPACE;
  assertDnsLabel('namespace', args.namespace);
  return args.namespace;
}

/** The <upstream> of every command but add and list. */
const UPSTREAM_ARGUMENT: PositionalSpec = { name: 'upstream', describe: 'The upstream of the cache' };

/** --namespace of the commands that print a kubectl command, as doctor's and certs renew's. */
const NAMESPACE_OPTION: FlagSpec = {
  type: 'string',
  describe: "The registry's namespace, for the kubectl command it prints (default container-registry)",
};

/** Why every cache change ends with a restart of the nodes. */
const RESTART =
  'k3s reads registries.yaml only at start: restart the nodes (k3d cluster stop NAME && k3d cluster start NAME)';

/** Adds a pull-through cache: the caches file, registries.yaml and certs.d in one transaction. */
export async function cacheAdd(args: CacheAddArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const cache = addMaterialCache(args.dir, {
      upstream: args.upstream,
      port: args.port,
      ttl: args.ttl,
      remoteUrl: args.remoteUrl,
    });
    io.stderr.write(
      `added a cache of ${cache.upstream} (from ${cache.remoteUrl}, TTL ${cache.ttl}) on port ${cache.port}: the nodes pull ${cache.upstream} through it, and from ${cache.upstream} directly while it is down\n` +
        `deploy it: ${applyCommandFor(args.dir, io)}; then ${RESTART}\n`,
    );
    return EXIT_OK;
  });
}

/** Removes a cache: the nodes pull that upstream directly again. */
export async function cacheRemove(args: CacheClusterArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const namespace = namespaceOf(args);
    const cache = removeMaterialCache(args.dir, args.upstream);
    io.stderr.write(
      `removed the cache of ${cache.upstream}: ${RESTART}, then ${applyCommandFor(args.dir, io)}\n` +
        `kubectl apply does not delete what it no longer finds in dist/: kubectl -n ${namespace} delete deployment,pvc,secret -l cdk8s-private-registry/upstream=${cacheSlug(cache.upstream)}\n`,
    );
    return EXIT_OK;
  });
}

/** Lists the caches, never a password or token. */
export async function cacheList(args: CacheListArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const caches = listMaterialCaches(args.dir);
    if (args.json) {
      io.stdout.write(`${JSON.stringify(caches, null, 2)}\n`);
      return EXIT_OK;
    }
    if (caches.length === 0) {
      io.stderr.write(
        'no caches: the nodes pull every public image from its registry; add one with: cache add docker.io\n',
      );
      return EXIT_OK;
    }
    for (const cache of caches) {
      io.stdout.write(
        `${cache.upstream}\t${cache.endpoint}\t${cache.remoteUrl}\tttl ${cache.ttl}\t${cache.username === undefined ? 'anonymous' : `user ${cache.username}`}\n`,
      );
    }
    return EXIT_OK;
  });
}

/** Stores the upstream account of a cache; the token or password from stdin only. */
export async function cacheLogin(args: CacheLoginArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    if (!args.passwordStdin) {
      throw new ValidationError(
        `--password-stdin is required: the upstream's token or password is read from stdin only (a flag would show in ps and shell history)`,
      );
    }
    const password = await readPasswordFromStdin(io);
    const cache = setMaterialCacheCredentials(args.dir, args.upstream, { username: args.username, password });
    io.stderr.write(
      `stored the ${cache.upstream} account of user ${JSON.stringify(args.username)} in ${path.join(args.dir, CACHES_FILE)} (0600; never in node/): the cache reads it from a Secret once you apply: ${applyCommandFor(args.dir, io)}\n`,
    );
    return EXIT_OK;
  });
}

/** Forgets the upstream account of a cache: it pulls anonymously again. */
export async function cacheLogout(args: CacheClusterArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    const namespace = namespaceOf(args);
    const cache = setMaterialCacheCredentials(args.dir, args.upstream, undefined);
    // apply leaves the Secret, token and all.
    const secret = cacheObjectNames(DEFAULT_SERVICE_NAME, cache.upstream).upstreamSecret;
    io.stderr.write(
      `removed the ${cache.upstream} account: the cache pulls anonymously once you apply: ${applyCommandFor(args.dir, io)}\n` +
        `kubectl apply does not delete the Secret that still holds the token: kubectl -n ${namespace} delete secret ${secret}\n`,
    );
    return EXIT_OK;
  });
}

export const cacheCommand: CommandBody = {
  subcommands: [
    {
      name: 'add',
      describe: 'Pull an upstream (docker.io, ghcr.io, quay.io, registry.k8s.io or an https:// URL) through a cache',
      positionals: [{ name: 'upstream', describe: 'docker.io, ghcr.io, quay.io, registry.k8s.io or https://...' }],
      flags: {
        port: {
          type: 'number',
          describe:
            "The cache's port on the registry's Service (default: docker.io 5100, ghcr.io 5101, quay.io 5102, registry.k8s.io 5103, else the next free from 5104)",
        },
        ttl: {
          type: 'string',
          describe:
            'How long each fetched manifest and layer is kept before it is deleted (a Go duration, default 168h)',
        },
        'remote-url': {
          type: 'string',
          describe: "Pull from this https:// address instead of the upstream's own (e.g. a Docker Hub mirror)",
        },
      },
      epilog: 'Example:\n  $0 cache add docker.io\n  $0 cache add https://registry.example.com --ttl 24h',
      run: cacheAdd,
    },
    {
      name: 'rm',
      aliases: ['remove'],
      describe: 'Remove the cache of an upstream: the nodes pull it directly again',
      positionals: [UPSTREAM_ARGUMENT],
      flags: { namespace: NAMESPACE_OPTION },
      run: cacheRemove,
    },
    {
      name: 'list',
      describe: 'List the caches: upstream, endpoint, remote URL, TTL, upstream user (never a password)',
      flags: { json: { type: 'boolean', default: false, describe: 'As JSON' } },
      run: cacheList,
    },
    {
      name: 'login',
      describe: "Store the cache's account at the upstream (token or password on stdin)",
      positionals: [UPSTREAM_ARGUMENT],
      flags: {
        username: { type: 'string', required: true, describe: 'Upstream user' },
        'password-stdin': {
          type: 'boolean',
          required: true,
          describe: 'Read the token or password from stdin (never a flag: flags show in ps and shell history)',
        },
      },
      epilog: 'Example:\n  $0 cache login docker.io --username me --password-stdin < hub-token.txt',
      run: cacheLogin,
    },
    {
      name: 'logout',
      describe: "Forget the cache's account at the upstream: it pulls anonymously",
      positionals: [UPSTREAM_ARGUMENT],
      flags: { namespace: NAMESPACE_OPTION },
      run: cacheLogout,
    },
  ],
};
