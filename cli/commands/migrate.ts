import path from 'node:path';
import { NODE_DIR } from '../../lib/defaults';
import { migrateMaterial } from '../../lib/material-layout';
import { ValidationError } from '../../lib/validate';
import type { CommandBody } from '../command-line';
import { dirFlag, withFlagNames } from '../flags';
import { type CliIo, EXIT_OK, type ExitCode } from '../io';
import fs from 'node:fs';

export interface MigrateArgs {
  readonly dir: string;
}

/** Moves old-layout material (what the nodes read beside the keys) into the node directory. */
export async function migrate(args: MigrateArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames({}, async () => {
    if (!fs.existsSync(args.dir) || !fs.statSync(args.dir).isDirectory()) {
      throw new ValidationError(`no material directory at ${args.dir}: point --dir at the directory to migrate`);
    }
    const moved = migrateMaterial(args.dir);
    const nodeDir = path.join(args.dir, NODE_DIR);
    if (moved.length === 0) {
      io.stderr.write(`${args.dir} already has the current layout: nothing to migrate\n`);
      return EXIT_OK;
    }
    io.stderr.write(
      [
        `moved ${moved.join(', ')} into ${nodeDir}: the nodes now mount only that directory, read-only`,
        'A cluster made from the old k3d config still mounts the whole directory and no longer finds',
        '/registry/certs/registries.yaml: recreate it from the new config (k3d cannot change the volumes of a cluster):',
        `  private-registry k3d-config${dirFlag(args.dir, io)} --out k3d.yaml`,
        '  k3d cluster delete NAME && k3d cluster create --config k3d.yaml',
        '',
      ].join('\n'),
    );
    return EXIT_OK;
  });
}

export const migrateCommand: CommandBody = { run: migrate };
