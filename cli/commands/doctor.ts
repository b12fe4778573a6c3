import fs from 'node:fs';
import path from 'node:path';
import type * as Yaml from 'js-yaml';
import { DEFAULT_K3S_IMAGE, k3sVersionProblem } from '../../lib/k3s-version';
import { NODE_DIR } from '../../lib/defaults';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES } from '../../lib/material-files';
import { MIGRATE_COMMAND, oldLayoutMessage, oldLayoutPaths } from '../../lib/material-layout';
import {
  type Check,
  checkDist,
  checkMaterial,
  readDistManifests,
  readMaterialSnapshot,
} from '../../lib/material-checks';
import { DEFAULT_DIST_DIR, assertMaterialDir, writeContainerdHostsDir } from '../../lib/material-dir';
import { crashLeftovers, underMaterialLock } from '../../lib/material-transaction';
import { parseRegistriesYaml } from '../../lib/registries-yaml';
import { shellQuote } from '../../lib/shell-words';
import { type MaterialCache, readCachesFile } from '../../lib/material-caches-file';
import { ValidationError, assertDnsLabel, assertServiceName } from '../../lib/validate';
import type { CommandBody } from '../command-line';
import { applyCommandFor, dirFlag, materialDirForSynth, withFlagNames } from '../flags';
import { type CliIo, EXIT_CHECK_FAILED, EXIT_OK, type ExitCode } from '../io';

export interface DoctorArgs {
  readonly dir: string;
  readonly dist: string;
  readonly live?: boolean;
  readonly url?: string;
  readonly json: boolean;
  readonly fixHostsDir?: boolean;
  /** A k3d config file to check (k3s image, volume, k3d registries: settings). */
  readonly k3dConfig?: string;
  /** The cluster's k3s version, e.g. v1.29.3+k3s1 (kubectl get nodes shows it). */
  readonly k3sVersion?: string;
  /** The registry Service the certificate must name, when not the default. */
  readonly serviceName?: string;
  /** That Service's namespace, when not the default. */
  readonly namespace?: string;
}

/**
 * A module only some runs need. The build requires it, as main.ts does a command's module: import() would
 * load Node's ESM loader, ~5 ms. The sources, which the tests run as TypeScript, can only import() it.
 */
async function optional<T>(required: () => unknown, imported: () => Promise<T>): Promise<T> {
  return __filename.endsWith('.js') ? (required() as T) : await imported();
}

/** Every check on the material (and dist/, and with --live the running registry): exit 1 if any fails. */
export async function doctor(args: DoctorArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames({ url: '--url', serviceName: '--service-name', namespace: '--namespace' }, async () => {
    // The live probe's module (an HTTPS client and all) only for --live or --url.
    const probe =
      args.live === true || args.url !== undefined
        ? await optional(
            () => require('../../lib/registry-probe.js'),
            () => import('../../lib/registry-probe.js'),
          )
        : undefined;
    // Usage errors first, before any line of the report.
    const url = args.url === undefined ? undefined : probe?.registryApiUrl(args.url);
    if (args.serviceName !== undefined) assertServiceName('serviceName', args.serviceName);
    if (args.namespace !== undefined) assertDnsLabel('namespace', args.namespace);
    if (fs.existsSync(args.dist) && !fs.statSync(args.dist).isDirectory()) {
      throw new ValidationError(
        `--dist ${args.dist} is not a directory: point it at the directory synth writes (cdk8s.yaml "output", "dist" by default)`,
      );
    }
    if (oldLayoutPaths(args.dir).length > 0) return report([oldLayoutCheck(args.dir)], args.json, io);
    // One lock for the repair and the read: what the checks see is whole. The lock first finishes or
    // removes what an interrupted command left, and the report says so.
    const { snapshot, recovered } = underMaterialLock(
      args.dir,
      (recovered) => {
        if (args.fixHostsDir === true) rewriteHostsDir(args.dir, io);
        return { snapshot: readMaterialSnapshot(args.dir), recovered };
      },
      { reader: args.fixHostsDir !== true },
    );
    const checks: Check[] = [
      ...leftoverChecks(args.dir, recovered, io),
      ...checkMaterial(snapshot, { now: io.now(), serviceName: args.serviceName, namespace: args.namespace }),
    ];
    const manifests = readDistManifests(args.dist);
    if (manifests === undefined)
      io.stderr.write(`no ${args.dist}/ directory: the synthesized manifests are not checked\n`);
    else
      checks.push(
        ...checkDist(snapshot, manifests, { distDir: args.dist, materialDir: materialDirForSynth(args.dir, io) }),
      );
    if (probe !== undefined && args.live === true) {
      checks.push(await probe.probeMaterialRegistry(snapshot, { url }));
      checks.push(...(await cacheUpstreamChecks(args.dir, io)));
    }
    if (args.k3sVersion !== undefined) checks.push(k3sVersionCheck(args.k3sVersion));
    if (args.k3dConfig !== undefined) {
      // k3d-config's module only for --k3d-config, like the probes for --live.
      const { k3dConfigProblems } = await optional(
        () => require('../../lib/k3d-config.js'),
        () => import('../../lib/k3d-config.js'),
      );
      checks.push(k3dConfigCheck(args.k3dConfig, k3dConfigProblems));
    }
    return report(checks, args.json, io);
  });
}

/** Prints the checks (text or JSON) and the tally: exit 1 if any failed. */
function report(checks: readonly Check[], json: boolean, io: CliIo): ExitCode {
  const failed = checks.filter((check) => !check.ok);
  if (json) {
    io.stdout.write(`${JSON.stringify({ ok: failed.length === 0, checks }, null, 2)}\n`);
  } else {
    // One write: each is a system call on a terminal or a pipe.
    io.stdout.write(
      checks
        .map((check) =>
          !check.ok
            ? `FAIL  ${check.name}: ${check.detail}; fix: ${check.fix ?? '-'}\n`
            : check.warning === true
              ? `WARN  ${check.name}: ${check.detail}; fix: ${check.fix ?? '-'}\n`
              : `ok    ${check.name}: ${check.detail}\n`,
        )
        .join(''),
    );
  }
  const warnings = checks.filter((check) => check.ok && check.warning === true).length;
  const warned = warnings === 0 ? '' : ` (${warnings} with a warning: act before it fails)`;
  io.stderr.write(
    failed.length === 0
      ? `all ${checks.length} checks passed${warned}\n`
      : `${failed.length} of ${checks.length} checks failed${warned}\n`,
  );
  return failed.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
}

/**
 * `--live` for each pull-through cache: its upstream, logged in to from here with the stored credentials. A
 * cache refused by its upstream answers the nodes "manifest unknown", never 401: the refusal shows only here.
 */
async function cacheUpstreamChecks(dir: string, io: CliIo): Promise<Check[]> {
  let caches: MaterialCache[];
  try {
    caches = readCachesFile(dir);
  } catch (error) {
    return [
      {
        name: 'cache upstreams',
        ok: false,
        detail: `not run: ${(error as Error).message}`,
        fix: 'fix the caches file first (see its message)',
      },
    ];
  }
  const apply = applyCommandFor(dir, io);
  const { probeCacheUpstreams } = await optional(
    () => require('../../lib/upstream-probe.js'),
    () => import('../../lib/upstream-probe.js'),
  );
  return probeCacheUpstreams(caches, {
    loginFix: (upstream, username) =>
      `store the right token or password from stdin: private-registry cache login ${upstream} --username ${shellQuote(username)} --password-stdin${dirFlag(dir, io)} < token.txt (a file holding only the token), then apply: ${apply}`,
  });
}

function k3sVersionCheck(version: string): Check {
  const problem = k3sVersionProblem(version);
  return problem === undefined
    ? { name: 'k3s version', ok: true, detail: `k3s ${version} is not a version known to break the registry` }
    : {
        name: 'k3s version',
        ok: false,
        detail: problem,
        fix: `recreate the cluster with a k3s from v1.29.4 on: private-registry k3d-config (pins ${DEFAULT_K3S_IMAGE})`,
      };
}

function k3dConfigCheck(file: string, k3dConfigProblems: (config: unknown) => string[]): Check {
  let config: unknown;
  try {
    config = (require('js-yaml') as typeof Yaml).load(fs.readFileSync(file, 'utf8'), { json: true });
  } catch (error) {
    throw new ValidationError(
      `--k3d-config ${file} cannot be read as YAML (${(error as Error).message.split('\n')[0]}): name a k3d config file`,
    );
  }
  const problems = k3dConfigProblems(config);
  return problems.length === 0
    ? {
        name: 'k3d config',
        ok: true,
        detail: `${file} mounts only the node directory, read-only, with a known-good k3s`,
      }
    : {
        name: 'k3d config',
        ok: false,
        detail: `${file}: ${problems.join('; ')}`,
        fix: 'write a new one with private-registry k3d-config --out FILE and recreate the cluster from it',
      };
}

/** Old-layout material: the only check, since every file is looked for where the new layout puts it. */
function oldLayoutCheck(dir: string): Check {
  return {
    name: 'layout',
    ok: false,
    detail: `${oldLayoutMessage(dir).split(': move what')[0]}; the nodes now mount only ${path.join(dir, NODE_DIR)}, read-only, so no key, htpasswd or password reaches a node`,
    fix: `${MIGRATE_COMMAND} --dir ${dir}, then recreate the cluster from "private-registry k3d-config"`,
  };
}

/**
 * A line only when an interrupted command left something: what this run finished or removed (the cluster
 * may not have the material it now holds), or what it could not, without the lock.
 */
function leftoverChecks(dir: string, recovered: readonly string[], io: CliIo): Check[] {
  const name = 'interrupted command';
  if (recovered.length > 0)
    return [
      {
        name,
        ok: false,
        detail: `an interrupted command had left its work half done; now: ${recovered.join('; ')}`,
        fix: `apply the material as it now is: ${applyCommandFor(dir, io)}`,
      },
    ];
  const leftovers = crashLeftovers(dir);
  if (leftovers.length === 0) return [];
  return [
    {
      name,
      ok: false,
      detail: `an interrupted command left ${leftovers.join(', ')}`,
      fix: `run private-registry doctor${dirFlag(dir, io)} as a user who can write in ${path.dirname(path.resolve(dir))}: it finishes or removes them (so does any command that changes the material)`,
    },
  ];
}

/** The one repair doctor makes itself: certs.d is generated from registries.yaml, so it can be made again. */
function rewriteHostsDir(dir: string, io: CliIo): void {
  assertMaterialDir(dir);
  const registriesFile = path.join(dir, MATERIAL_FILES.registriesYaml);
  let content: string;
  try {
    content = fs.readFileSync(registriesFile, 'utf8');
  } catch {
    throw new ValidationError(
      `--fix-hosts-dir needs ${registriesFile}, which is missing or unreadable: restore it from a backup (${dir}.backup-*)`,
    );
  }
  const hosts = writeContainerdHostsDir(dir, parseRegistriesYaml(content, registriesFile));
  io.stderr.write(`rewrote ${path.join(dir, CONTAINERD_HOSTS_DIR)} from ${registriesFile} (${hosts.join(', ')})\n`);
}

export const doctorCommand: CommandBody = {
  flags: {
    dist: {
      type: 'string',
      default: DEFAULT_DIST_DIR,
      describe: 'Synthesized manifests to compare with the material (skipped if absent)',
    },
    live: {
      type: 'boolean',
      describe:
        "Also GET /v2/ on the registry with our CA and the nodes' credentials, and log in to each cache's upstream",
    },
    url: {
      type: 'string',
      implies: 'live',
      describe: 'Registry URL for --live (default https://localhost:<nodePort>)',
    },
    'k3d-config': {
      type: 'string',
      describe: 'Also check this k3d config file (k3s version, node volume, k3d registries: settings)',
    },
    'service-name': {
      type: 'string',
      describe: 'The registry Service the certificate must name (default container-registry)',
    },
    namespace: { type: 'string', describe: "That Service's namespace (default container-registry)" },
    'k3s-version': {
      type: 'string',
      describe: "Also check the cluster's k3s version (kubectl get nodes), e.g. v1.29.3+k3s1",
    },
    json: { type: 'boolean', default: false, describe: 'Print the checks as JSON' },
    'fix-hosts-dir': {
      type: 'boolean',
      default: false,
      describe: 'First rewrite <dir>/node/certs.d (containerd hosts files) from registries.yaml',
    },
  },
  run: doctor,
};
