import path from 'node:path';
import { MATERIAL_FILES, materialAddressesOf, readMaterial } from '../../lib/material';
import { assertMaterialDir } from '../../lib/material-dir';
import { desktopTrustFiles, writeTrustFiles } from '../../lib/trust';
import { withMaterial } from '../command';
import type { CommandBody } from '../command-line';
import { dirFlag, withFlagNames } from '../flags';
import { type CliIo, EXIT_CHECK_FAILED, EXIT_OK, type ExitCode } from '../io';

export interface TrustArgs {
  readonly dir: string;
  readonly write: boolean;
  readonly root: string;
}

/** How each desktop client trusts our CA for localhost:<nodePort>; --write puts the files in place. */
export async function trust(args: TrustArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames({ root: '--root' }, async () => {
    assertMaterialDir(args.dir);
    const material = withMaterial(args.dir, io, () => readMaterial(args.dir, { now: io.now() }), { reader: true });
    const { nodePort } = materialAddressesOf(material.registries, path.join(args.dir, MATERIAL_FILES.registriesYaml));
    const host = `localhost:${nodePort}`;
    const files = desktopTrustFiles(material.ca.certificatePem, host);
    const caFile = path.resolve(args.dir, MATERIAL_FILES.caCertificate);
    const lines = [
      `The registry at ${host} has a certificate from this material's CA (${caFile}). Each client trusts it through its own file:`,
      '',
    ];
    for (const file of files) {
      lines.push(`${file.client}: ${file.path}`);
      if (file.note !== undefined) lines.push(`  ${file.note}`);
    }
    const user = material.nodeCredentials.username;
    lines.push(
      `curl: curl --cacert ${caFile} -u ${user}:"$(cat ${path.resolve(args.dir, MATERIAL_FILES.password)})" https://${host}/v2/_catalog`,
      '',
    );
    if (!args.write)
      lines.push(`Write the files (as root): private-registry trust${dirFlag(args.dir, io)} --write`, '');
    io.stdout.write(lines.join('\n'));
    if (!args.write) return EXIT_OK;

    const results = writeTrustFiles(files, args.root);
    for (const result of results) {
      io.stderr.write(
        result.written
          ? `wrote ${result.path}\n`
          : `could not write ${result.path}: ${result.error} (run as root, or copy ${caFile} there)\n`,
      );
    }
    return results.every((result) => result.written) ? EXIT_OK : EXIT_CHECK_FAILED;
  });
}

export const trustCommand: CommandBody = {
  flags: {
    write: {
      type: 'boolean',
      default: false,
      describe: 'Write the CA files (needs root); exit 1 if some could not be written',
    },
    root: {
      type: 'string',
      default: '/',
      describe: 'Write under this directory instead of / (for images and tests)',
    },
  },
  run: trust,
};
