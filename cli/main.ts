import * as fs from 'node:fs';
import * as path from 'node:path';
import yargs, { type CommandModule } from 'yargs';
import { ValidationError } from '../lib/validate';
import { type CommandContext, type CommandFactory, defaultMaterialDir } from './command';
import { type CliIo, EXIT_BAD_INPUT, EXIT_CHECK_FAILED, EXIT_OK, type ExitCode, processIo } from './io';

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
const COMMANDS: readonly { command: string; describe: string; load(): Promise<CommandFactory> }[] = [
  {
    command: 'init',
    describe: 'Create the material directory: CA, server certificate, htpasswd, registries.yaml',
    load: async () => (await loadModule<typeof import('./commands/init.js')>('./commands/init.js')).initCommand,
  },
  {
    command: 'user',
    describe: 'Add, remove, list and verify registry users (htpasswd; registries.yaml kept consistent)',
    load: async () => (await loadModule<typeof import('./commands/user.js')>('./commands/user.js')).userCommand,
  },
  {
    command: 'certs',
    describe: 'Show or renew the CA and the server certificate',
    load: async () => (await loadModule<typeof import('./commands/certs.js')>('./commands/certs.js')).certsCommand,
  },
  {
    command: 'storage',
    describe: 'Keep the images in an S3 bucket (AWS S3, MinIO, Ceph) with 2 replicas, or go back to a volume',
    load: async () =>
      (await loadModule<typeof import('./commands/storage.js')>('./commands/storage.js')).storageCommand,
  },
  {
    command: 'cache',
    describe:
      'Pull docker.io, ghcr.io, quay.io, registry.k8s.io (or any https:// registry) through caches in the cluster',
    load: async () => (await loadModule<typeof import('./commands/cache.js')>('./commands/cache.js')).cacheCommand,
  },
  {
    command: 'k3d-config',
    describe: 'Print a k3d cluster config (k3d.io/v1alpha5) whose nodes use the registry',
    load: async () =>
      (await loadModule<typeof import('./commands/k3d-config.js')>('./commands/k3d-config.js')).k3dConfigCommand,
  },
  {
    command: 'trust',
    describe: "How this machine's Docker, Podman/Skopeo/Buildah, containerd and curl trust the registry's CA",
    load: async () => (await loadModule<typeof import('./commands/trust.js')>('./commands/trust.js')).trustCommand,
  },
  {
    command: 'doctor',
    describe: 'Check the material, the synthesized manifests and (--live) the running registry',
    load: async () => (await loadModule<typeof import('./commands/doctor.js')>('./commands/doctor.js')).doctorCommand,
  },
  {
    command: 'images',
    describe: 'List, delete and size the images in the registry (HTTP API v2, our CA and credentials)',
    load: async () => (await loadModule<typeof import('./commands/images.js')>('./commands/images.js')).imagesCommand,
  },
  {
    command: 'migrate',
    describe: 'Move old-layout material into node/, the only directory the nodes mount',
    load: async () =>
      (await loadModule<typeof import('./commands/migrate.js')>('./commands/migrate.js')).migrateCommand,
  },
];

/**
 * A command for yargs, its flags and handler from its module when the command line names it (`factory`),
 * or only its name and summary for the top-level help.
 */
function lazyCommand(
  entry: (typeof COMMANDS)[number],
  factory: CommandFactory | undefined,
  context: CommandContext,
): CommandModule {
  const module = factory?.(context);
  const unloaded = (): never => {
    throw new Error(`the module of command "${entry.command}" was not loaded`);
  };
  return {
    command: entry.command,
    describe: entry.describe,
    builder: (parser) => (module ?? unloaded()).builder(parser),
    handler: (argv) => (module ?? unloaded()).handler(argv),
  };
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
  // Set by a handler; the cast keeps TypeScript from assuming the initial value survives the await.
  let outcome = { code: EXIT_OK } as { code: ExitCode } | { error: unknown };
  const context: CommandContext = { io, defaultDir: defaultMaterialDir(io), settle: (settled) => (outcome = settled) };
  // yargs runs a command's builder and handler only when the command line names it: load those modules alone.
  const factories = await Promise.all(
    COMMANDS.map((entry) => (args.includes(entry.command) ? entry.load() : undefined)),
  );
  const modules = COMMANDS.map((entry, index) => lazyCommand(entry, factories[index], context));
  let output = '';
  try {
    const root = yargs([...args]);
    const parser = root
      .scriptName(SCRIPT)
      .usage(
        `${SCRIPT} <command> [flags]\n\nA private TLS + htpasswd registry for k3s/k3d: its certificates, users and cluster wiring.`,
      )
      .option('dir', {
        type: 'string',
        default: context.defaultDir,
        requiresArg: true,
        global: true,
        describe: 'Material directory (env REGISTRY_MATERIAL_DIR, like synth)',
      })
      .command(modules)
      // yargs reads `--password-stdin=yes` as false: a value it does not understand must not flip a flag.
      .middleware((): void => assertBooleanFlagValues(args, booleanFlags(root)), true)
      .demandCommand(1, `name a command: ${modules.map((module) => String(module.command)).join(', ')}`)
      .strict()
      .help()
      .alias('help', 'h')
      .version(packageVersion())
      .locale('en')
      .wrap(100)
      .exitProcess(false)
      .showHelpOnFail(false)
      .fail(false);
    // Once a command's handler has started, yargs renders that command's whole help and keeps it, in case
    // the handler asks for it later. Ours never do, and the rendering costs every command 5-30 ms; yargs has
    // no setting for it, so its internal method is switched off (its types do not list it).
    (parser as unknown as YargsInternals).getInternalMethods().getUsageInstance().cacheHelpMessage = () => {};
    // With a callback yargs hands --help/--version text back instead of printing it.
    await parser.parseAsync([...args], {}, (_error, _argv, text) => {
      output = text;
    });
  } catch (error) {
    io.stderr.write(
      `error: ${usageMessage((error as Error).message, args)}\nsee: ${SCRIPT} ${commandPath(args)}--help\n`,
    );
    return EXIT_BAD_INPUT;
  }
  if (output !== '') io.stdout.write(`${output}\n`);
  if ('code' in outcome) return outcome.code;
  const { error } = outcome;
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

/** What main() reaches inside yargs: the method that renders and keeps a command's help. */
interface YargsInternals {
  getInternalMethods(): { getUsageInstance(): { cacheHelpMessage(): void } };
}

/** The boolean flags of the command being run (yargs has them, its types do not say so). */
function booleanFlags(parser: object): readonly string[] {
  return (parser as { getOptions(): { boolean: string[] } }).getOptions().boolean;
}

/**
 * Refuses `--flag=VALUE` (and `--no-flag=VALUE`) on a boolean flag unless VALUE is true or false. yargs
 * turns anything else into false, so `--password-stdin=yes` would silently print a random password.
 */
function assertBooleanFlagValues(args: readonly string[], booleans: readonly string[]): void {
  const kebab = (name: string): string => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  const flags = new Set(booleans.map(kebab));
  const end = args.indexOf('--');
  for (const arg of end < 0 ? args : args.slice(0, end)) {
    const match = /^--(no-)?([^=]+)=(.*)$/s.exec(arg);
    if (match === null || !flags.has(kebab(match[2]))) continue;
    if (!/^(true|false)$/.test(match[3])) {
      throw new Error(
        `--${match[1] ?? ''}${match[2]} is a switch, got the value ${JSON.stringify(match[3])}: write --${kebab(match[2])} alone to turn it on (or =true / =false)`,
      );
    }
  }
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

/**
 * yargs' usage errors in terms of flags: "Unknown arguments: node-prot, nodeProt" (it lists the camelCase
 * twin too) becomes "unknown flag --node-prot", "Missing required argument: x" becomes "missing --x".
 */
function usageMessage(message: string, args: readonly string[]): string {
  const missing = /^Missing required arguments?: (.+)$/.exec(message);
  if (missing !== null)
    return `missing ${missing[1]
      .split(', ')
      .map((name) => `--${name}`)
      .join(', ')}`;
  const dependent = /^Missing dependent arguments:\n((?: .+ -> .+\n?)+)$/.exec(message);
  if (dependent !== null) {
    return dependent[1]
      .trim()
      .split('\n')
      .map((line) => line.trim().replace(/^(.+) -> (.+)$/, '--$1 needs --$2'))
      .join('; ');
  }
  const unknown = /^Unknown arguments?: (.+)$/.exec(message);
  if (unknown === null) return message;
  const names = unknown[1].split(', ');
  const kebab = (name: string): string => name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  const typed = names.filter((name) => kebab(name) === name || !names.includes(kebab(name)));
  const flags: string[] = [];
  const words: string[] = [];
  for (const name of typed) {
    const flag = [`--${name}`, `-${name}`].find((candidate) =>
      args.some((arg) => arg === candidate || arg.startsWith(`${candidate}=`)),
    );
    if (flag === undefined) words.push(JSON.stringify(name));
    else flags.push(flag);
  }
  const plural = (list: string[]): string => (list.length > 1 ? 's' : '');
  return [
    ...(flags.length > 0 ? [`unknown flag${plural(flags)} ${flags.join(', ')}`] : []),
    ...(words.length > 0 ? [`unknown argument${plural(words)} ${words.join(', ')}`] : []),
  ].join('; ');
}

/** The command words at the start of `args` ("user add "), for pointing at the right --help. */
function commandPath(args: readonly string[]): string {
  const known: Record<string, readonly string[]> = {
    init: [],
    user: ['add', 'remove', 'list', 'verify'],
    certs: ['show', 'renew'],
    storage: ['s3', 'show', 'clear'],
    cache: ['add', 'rm', 'remove', 'list', 'login', 'logout'],
    'k3d-config': [],
    trust: [],
    doctor: [],
    images: ['list', 'rm', 'du'],
  };
  const [first, second] = args;
  if (first === undefined || !(first in known)) return '';
  return known[first].includes(second ?? '') ? `${first} ${second} ` : `${first} `;
}

/** This package's version, found from here both in the sources (cli/) and in the build (build/cli/). */
function packageVersion(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  }
  return 'unknown';
}
