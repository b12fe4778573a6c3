import fs from 'node:fs';
import path from 'node:path';
import { ValidationError } from '../lib/validate';
import { type CommandBody, type CommandSpec, UsageError, flagsOf, parseCommandLine } from './command-line';
import { renderHelp } from './help';
import {
  type CliIo,
  EXIT_BAD_INPUT,
  EXIT_CHECK_FAILED,
  EXIT_OK,
  type ExitCode,
  defaultMaterialDir,
  processIo,
} from './io';

const SCRIPT = 'private-registry';

/**
 * A command's module. The build requires it: import() would bring in Node's ESM loader, milliseconds that
 * every command would pay. The sources, which the tests run as TypeScript, are reached by import() only.
 */
async function loadModule<T>(specifier: string): Promise<T> {
  return __filename.endsWith('.js') ? (require(specifier) as T) : ((await import(specifier)) as T);
}

/**
 * The commands, each with what the top-level help shows. A command's module (its flags, its handlers and
 * the library code they use) is loaded only when the command line names it: start-up is most of what a
 * command costs, and `--help` or `user list` need none of the others.
 */
const COMMANDS: readonly { name: string; describe: string; load(): Promise<CommandBody> }[] = [
  {
    name: 'init',
    describe: 'Create the material directory: CA, server certificate, htpasswd, registries.yaml',
    load: async () => (await loadModule<typeof import('./commands/init.js')>('./commands/init.js')).initCommand,
  },
  {
    name: 'user',
    describe: 'Add, remove, list and verify registry users (htpasswd; registries.yaml kept consistent)',
    load: async () => (await loadModule<typeof import('./commands/user.js')>('./commands/user.js')).userCommand,
  },
  {
    name: 'certs',
    describe: 'Show or renew the CA and the server certificate',
    load: async () => (await loadModule<typeof import('./commands/certs.js')>('./commands/certs.js')).certsCommand,
  },
  {
    name: 'storage',
    describe: 'Keep the images in an S3 bucket (AWS S3, MinIO, Ceph) with 2 replicas, or go back to a volume',
    load: async () =>
      (await loadModule<typeof import('./commands/storage.js')>('./commands/storage.js')).storageCommand,
  },
  {
    name: 'cache',
    describe:
      'Pull docker.io, ghcr.io, quay.io, registry.k8s.io (or any https:// registry) through caches in the cluster',
    load: async () => (await loadModule<typeof import('./commands/cache.js')>('./commands/cache.js')).cacheCommand,
  },
  {
    name: 'k3d-config',
    describe: 'Print a k3d cluster config (k3d.io/v1alpha5) whose nodes use the registry',
    load: async () =>
      (await loadModule<typeof import('./commands/k3d-config.js')>('./commands/k3d-config.js')).k3dConfigCommand,
  },
  {
    name: 'trust',
    describe: "How this machine's Docker, Podman/Skopeo/Buildah, containerd and curl trust the registry's CA",
    load: async () => (await loadModule<typeof import('./commands/trust.js')>('./commands/trust.js')).trustCommand,
  },
  {
    name: 'doctor',
    describe: 'Check the material, the synthesized manifests and (--live) the running registry',
    load: async () => (await loadModule<typeof import('./commands/doctor.js')>('./commands/doctor.js')).doctorCommand,
  },
  {
    name: 'images',
    describe: 'List, delete and size the images in the registry (HTTP API v2, our CA and credentials)',
    load: async () => (await loadModule<typeof import('./commands/images.js')>('./commands/images.js')).imagesCommand,
  },
  {
    name: 'migrate',
    describe: 'Move old-layout material into node/, the only directory the nodes mount',
    load: async () =>
      (await loadModule<typeof import('./commands/migrate.js')>('./commands/migrate.js')).migrateCommand,
  },
];

/**
 * The program as a command tree, with the module of the command that `args` names loaded: the others have
 * only their name and summary, all that the top-level help needs of them.
 */
async function programFor(args: readonly string[], io: CliIo): Promise<CommandSpec> {
  const program: CommandSpec = {
    name: SCRIPT,
    describe: 'A private TLS + htpasswd registry for k3s/k3d: its certificates, users and cluster wiring.',
    flags: {
      dir: {
        type: 'string',
        default: defaultMaterialDir(io),
        describe: 'Material directory (env REGISTRY_MATERIAL_DIR, like synth)',
      },
    },
    subcommands: COMMANDS.map(({ name, describe }) => ({ name, describe })),
  };
  const named = COMMANDS.find((entry) => entry.name === firstWord(args, program));
  if (named === undefined) return program;
  const body = await named.load();
  return {
    ...program,
    subcommands: COMMANDS.map(({ name, describe }) =>
      name === named.name ? { name, describe, ...body } : { name, describe },
    ),
  };
}

/** The first word of `args` that is neither a flag nor the value of one of the program's own flags. */
function firstWord(args: readonly string[], program: CommandSpec): string | undefined {
  const flags = flagsOf([program]);
  for (let at = 0; at < args.length; at++) {
    const arg = args[at];
    // After `--` every word is an argument, never a command's name.
    if (arg === '--') return undefined;
    if (!arg.startsWith('-')) return arg;
    const name = arg.slice(2);
    if (Object.hasOwn(flags, name) && flags[name].type !== 'boolean') at++;
  }
  return undefined;
}

/**
 * Runs the CLI and resolves with its exit code: 0 ok, 1 a check failed, 2 bad usage or bad input (a flag, a
 * value, or a path the user gave that cannot be read or written). An error that is none of these is a bug:
 * it exits 1 too, reported as an unexpected error. Never exits the process and never rejects, so tests call
 * it like any function.
 */
export async function main(
  args: readonly string[] = process.argv.slice(2),
  io: CliIo = processIo(),
): Promise<ExitCode> {
  const program = await programFor(args, io);
  let parsed: ReturnType<typeof parseCommandLine>;
  try {
    parsed = parseCommandLine(program, args);
  } catch (error) {
    if (!(error instanceof UsageError)) return reportFailure(error, io);
    const command = [SCRIPT, ...error.path.slice(1).map((spec) => spec.name)].join(' ');
    io.stderr.write(`error: ${error.message}\nsee: ${command} --help\n`);
    return EXIT_BAD_INPUT;
  }
  if (parsed.kind === 'help') {
    io.stdout.write(renderHelp(parsed.path, SCRIPT));
    return EXIT_OK;
  }
  if (parsed.kind === 'version') {
    io.stdout.write(`${packageVersion()}\n`);
    return EXIT_OK;
  }
  const run = parsed.path[parsed.path.length - 1].run;
  try {
    // parseCommandLine() returns 'run' only for a command that has a run.
    return await (run as NonNullable<typeof run>)(parsed.args, io);
  } catch (error) {
    return reportFailure(error, io);
  }
}

/** A command's error on stderr, and its exit code: 2 for bad input, 1 for anything unexpected. */
function reportFailure(error: unknown, io: CliIo): ExitCode {
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ValidationError) {
    io.stderr.write(`error: ${message}\n`);
    return EXIT_BAD_INPUT;
  }
  const fileError = fileErrorMessage(error);
  if (fileError !== undefined) {
    io.stderr.write(`error: ${fileError}\n`);
    return EXIT_BAD_INPUT;
  }
  io.stderr.write(`error: unexpected error: ${message}\n`);
  return EXIT_CHECK_FAILED;
}

/** Why a file operation failed, for the errors a path the user gave can cause. */
const FILE_ERRORS: Readonly<Record<string, string>> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  EISDIR: 'it is a directory',
  ENOTDIR: 'a part of the path is not a directory',
  ENOENT: 'no such file or directory',
  EEXIST: 'it already exists',
  ENAMETOOLONG: 'the name is too long',
  ELOOP: 'too many symbolic links',
};

/**
 * A filesystem error on a path from the user (--dir, --out, --root, --dist) as bad input: what could not
 * be done where, and why. Undefined for anything else.
 */
function fileErrorMessage(error: unknown): string | undefined {
  const { code, syscall, path: file, dest } = (error ?? {}) as NodeJS.ErrnoException & { dest?: string };
  // mkdir -p meets EEXIST only where something other than a directory is in the way.
  const reason =
    code === 'EEXIST' && syscall === 'mkdir'
      ? 'it is not a directory'
      : code === undefined
        ? undefined
        : FILE_ERRORS[code];
  if (reason === undefined) return undefined;
  const target = dest ?? file;
  let what = `${syscall ?? 'use'} ${target}`;
  // Some calls (a read on an open file) do not say which path.
  if (target === undefined) what = syscall === undefined ? 'use a path' : `${syscall} a path`;
  // A temp file of an atomic write (.name.<hex>.tmp, .name.tmp-XXXXXX): the user can act on its directory.
  else if (/\.tmp(-\w+)?$/.test(path.basename(target))) what = `write in ${path.dirname(target)}`;
  return `cannot ${what}: ${reason} (${code}): check the paths you gave (--dir, --out, --root, --dist) and their permissions`;
}

/** This package's version, found from here both in the sources (cli/) and in the build (build/cli/). */
function packageVersion(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}
