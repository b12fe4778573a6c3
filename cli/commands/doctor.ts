import { Check, checkDist, checkMaterial, readDistManifests, readMaterialSnapshot } from '../../lib/material-checks';
import { probeMaterialRegistry, registryApiUrl } from '../../lib/registry-probe';
import { CommandFactory, handler } from '../command';
import { withFlagNames } from '../flags';
import { CliIo, EXIT_CHECK_FAILED, EXIT_OK, ExitCode } from '../io';

export interface DoctorArgs {
  readonly dir: string;
  readonly dist: string;
  readonly live?: boolean;
  readonly url?: string;
  readonly json: boolean;
}

/** Every check on the material (and dist/, and with --live the running registry): exit 1 if any fails. */
export async function doctor(args: DoctorArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames({ url: '--url' }, async () => {
    // Usage errors first, before any line of the report.
    const url = args.url === undefined ? undefined : registryApiUrl(args.url);
    const snapshot = readMaterialSnapshot(args.dir);
    const checks: Check[] = checkMaterial(snapshot, { now: io.now() });
    const manifests = readDistManifests(args.dist);
    if (manifests === undefined) io.stderr.write(`no ${args.dist}/ directory: the synthesized manifests are not checked\n`);
    else checks.push(...checkDist(snapshot, manifests, { distDir: args.dist }));
    if (args.live === true) checks.push(await probeMaterialRegistry(snapshot, { url }));

    const failed = checks.filter((check) => !check.ok);
    if (args.json) {
      io.stdout.write(`${JSON.stringify({ ok: failed.length === 0, checks }, null, 2)}\n`);
    } else {
      for (const check of checks) {
        io.stdout.write(check.ok ? `ok    ${check.name}: ${check.detail}\n` : `FAIL  ${check.name}: ${check.detail}; fix: ${check.fix ?? '-'}\n`);
      }
    }
    io.stderr.write(failed.length === 0 ? `all ${checks.length} checks passed\n` : `${failed.length} of ${checks.length} checks failed\n`);
    return failed.length === 0 ? EXIT_OK : EXIT_CHECK_FAILED;
  });
}

export const doctorCommand: CommandFactory = (context) => ({
  command: 'doctor',
  describe: 'Check the material, the synthesized manifests and (--live) the running registry',
  builder: (yargs) =>
    yargs
      .option('dist', { type: 'string', default: 'dist', requiresArg: true, describe: 'Synthesized manifests to compare with the material (skipped if absent)' })
      // No default: yargs counts a default as given, and --url needs --live.
      .option('live', { type: 'boolean', describe: 'Also GET /v2/ on the registry with our CA and the nodes\' credentials' })
      .option('url', { type: 'string', requiresArg: true, describe: 'Registry URL for --live (default https://localhost:<nodePort>)' })
      .option('json', { type: 'boolean', default: false, describe: 'Print the checks as JSON' })
      .implies('url', 'live'),
  handler: handler(context, doctor),
});
