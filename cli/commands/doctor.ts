import * as fs from 'node:fs';
import * as path from 'node:path';
import { CONTAINERD_HOSTS_DIR, MATERIAL_FILES } from '../../lib/material';
import {
  type Check,
  checkDist,
  checkMaterial,
  readDistManifests,
  readMaterialSnapshot,
} from '../../lib/material-checks';
import { DEFAULT_DIST_DIR, assertMaterialDir, writeContainerdHostsDir } from '../../lib/material-dir';
import { parseRegistriesYaml } from '../../lib/registries-yaml';
import { probeMaterialRegistry, registryApiUrl } from '../../lib/registry-probe';
import { ValidationError } from '../../lib/validate';
import { type CommandFactory, handler } from '../command';
import { materialDirForSynth, withFlagNames } from '../flags';
import { type CliIo, EXIT_CHECK_FAILED, EXIT_OK, type ExitCode } from '../io';

export interface DoctorArgs {
  readonly dir: string;
  readonly dist: string;
  readonly live?: boolean;
  readonly url?: string;
  readonly json: boolean;
  readonly fixHostsDir?: boolean;
}

/** Every check on the material (and dist/, and with --live the running registry): exit 1 if any fails. */
export async function doctor(args: DoctorArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames({ url: '--url' }, async () => {
    // Usage errors first, before any line of the report.
    const url = args.url === undefined ? undefined : registryApiUrl(args.url);
    if (args.fixHostsDir === true) rewriteHostsDir(args.dir, io);
    const snapshot = readMaterialSnapshot(args.dir);
    const checks: Check[] = checkMaterial(snapshot, { now: io.now() });
    const manifests = readDistManifests(args.dist);
    if (manifests === undefined)
      io.stderr.write(`no ${args.dist}/ directory: the synthesized manifests are not checked\n`);
    else
      checks.push(
        ...checkDist(snapshot, manifests, { distDir: args.dist, materialDir: materialDirForSynth(args.dir, io) }),
      );
    if (args.live === true) checks.push(await probeMaterialRegistry(snapshot, { url }));

    const failed = checks.filter((check) => !check.ok);
    if (args.json) {
      io.stdout.write(`${JSON.stringify({ ok: failed.length === 0, checks }, null, 2)}\n`);
    } else {
      for (const check of checks) {
        io.stdout.write(
          check.ok
            ? `ok    ${check.name}: ${check.detail}\n`
            : `FAIL  ${check.name}: ${check.detail}; fix: ${check.fix ?? '-'}\n`,
        );
      }
    }
    io.stderr.write(
      failed.length === 0
        ? `all ${checks.length} checks passed\n`
        : `${failed.length} of ${checks.length} checks failed\n`,
    );
    return failed.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
  });
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

export const doctorCommand: CommandFactory = (context) => ({
  builder: (yargs) =>
    yargs
      .option('dist', {
        type: 'string',
        default: DEFAULT_DIST_DIR,
        requiresArg: true,
        describe: 'Synthesized manifests to compare with the material (skipped if absent)',
      })
      // No default: yargs counts a default as given, and --url needs --live.
      .option('live', {
        type: 'boolean',
        describe: "Also GET /v2/ on the registry with our CA and the nodes' credentials",
      })
      .option('url', {
        type: 'string',
        requiresArg: true,
        describe: 'Registry URL for --live (default https://localhost:<nodePort>)',
      })
      .option('json', { type: 'boolean', default: false, describe: 'Print the checks as JSON' })
      .option('fix-hosts-dir', {
        type: 'boolean',
        default: false,
        describe: 'First rewrite <dir>/certs.d (containerd hosts files) from registries.yaml',
      })
      .implies('url', 'live'),
  handler: handler(context, doctor),
});
