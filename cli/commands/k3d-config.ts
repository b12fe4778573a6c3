import fs from 'node:fs';
import path from 'node:path';
import { PUBLIC_FILE_MODE, writeFileAtomic } from '../../lib/atomic-file';
import type * as Yaml from 'js-yaml';
import { DEFAULT_K3S_IMAGE } from '../../lib/k3s-version';
import {
  DEFAULT_K3D_CLUSTER_NAME,
  k3dClusterConfig,
  k3dConfigProblems,
  k3dCreateArgs,
  renderK3dConfig,
  shellCommandLine,
} from '../../lib/k3d-config';
import { MATERIAL_FILES, materialAddressesOf, readMaterial } from '../../lib/material';
import { assertMaterialDir } from '../../lib/material-dir';
import { ValidationError } from '../../lib/validate';
import { withMaterial } from '../command';
import type { CommandBody } from '../command-line';
import { withFlagNames } from '../flags';
import { type CliIo, EXIT_OK, type ExitCode } from '../io';

export interface K3dConfigArgs {
  readonly dir: string;
  readonly name: string;
  readonly servers: number;
  readonly agents: number;
  readonly k3sImage?: string;
  readonly out?: string;
  readonly printCommand: boolean;
}

const FLAGS = { name: '--name', servers: '--servers', agents: '--agents', materialDir: '--dir', image: '--k3s-image' };

/** The k3d cluster config for this material (stdout or --out), or with --print-command the same as one command line. */
export async function k3dConfig(args: K3dConfigArgs, io: CliIo): Promise<ExitCode> {
  return withFlagNames(FLAGS, async () => {
    assertMaterialDir(args.dir);
    // The nodes will read this material: refuse to wire up a cluster to a broken one.
    const material = withMaterial(args.dir, io, () => readMaterial(args.dir, { now: io.now() }), { reader: true });
    const { nodePort } = materialAddressesOf(material.registries, path.join(args.dir, MATERIAL_FILES.registriesYaml));
    const config = k3dClusterConfig({
      materialDir: path.resolve(args.dir),
      nodePort,
      name: args.name,
      servers: args.servers,
      agents: args.agents,
      image: args.k3sImage,
    });
    if (args.out !== undefined) {
      writeOut(args.out, renderK3dConfig(config));
      io.stderr.write(`wrote ${args.out}: k3d cluster create --config ${args.out}\n`);
    } else if (!args.printCommand) {
      io.stdout.write(renderK3dConfig(config));
    }
    if (args.printCommand) io.stdout.write(`${shellCommandLine(k3dCreateArgs(config))}\n`);
    return EXIT_OK;
  });
}

/** What is wrong with the config already at --out (k3d registries: settings above all), so the user hears of it. */
function existingConfigProblems(out: string): string[] {
  try {
    // js-yaml only here, for a file that is in the way: printing a config does not need it.
    return k3dConfigProblems((require('js-yaml') as typeof Yaml).load(fs.readFileSync(out, 'utf8')));
  } catch {
    return []; // absent or not YAML: nothing of it survives anyway
  }
}

/** Writes --out atomically; every way the path can be wrong is bad input that names --out and the fix. */
function writeOut(out: string, content: string): void {
  const outDir = path.dirname(path.resolve(out));
  if (!fs.existsSync(outDir))
    throw new ValidationError(`--out ${out}: directory ${outDir} does not exist: create it or write somewhere else`);
  if (fs.existsSync(out) && fs.statSync(out).isDirectory()) {
    throw new ValidationError(`--out ${out} is a directory: name a file, e.g. --out ${path.join(out, 'k3d.yaml')}`);
  }
  // Never overwritten: it may be a config edited by hand, or a link to one (a rename would replace the link).
  if (isAnything(out)) {
    // k3d's own registries: settings are worth hearing of: they would be silently ignored beside ours.
    const problems = existingConfigProblems(out)
      .filter((problem) => problem.includes('"registries:"'))
      .map((problem) => ` (and ${problem})`);
    throw new ValidationError(
      `--out ${out} already exists${problems.join('')}: remove it first to regenerate it, or pick another file (without --out the config goes to stdout)`,
    );
  }
  try {
    writeFileAtomic(out, content, PUBLIC_FILE_MODE);
  } catch (error) {
    const { code } = error as NodeJS.ErrnoException;
    if (code === undefined) throw error;
    throw new ValidationError(
      `--out ${out} cannot be written (${(error as Error).message.split(',')[0]}): pick a file in a directory you can write to`,
    );
  }
}

/** True when something (a file, a link, even a dangling one) is at `file`. */
function isAnything(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}

export const k3dConfigCommand: CommandBody = {
  flags: {
    name: { type: 'string', default: DEFAULT_K3D_CLUSTER_NAME, describe: 'Cluster name' },
    servers: { type: 'number', default: 1, describe: 'Server nodes' },
    agents: { type: 'number', default: 0, describe: 'Agent nodes' },
    'k3s-image': {
      type: 'string',
      describe: `k3s image of every node (default ${DEFAULT_K3S_IMAGE}); versions known to break the registry are refused`,
    },
    out: { type: 'string', describe: 'Write the config to this file instead of stdout' },
    'print-command': {
      type: 'boolean',
      default: false,
      describe: 'Print the equivalent `k3d cluster create` command line',
    },
  },
  run: k3dConfig,
};
