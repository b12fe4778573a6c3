import type { CliIo, ExitCode } from './io';

/**
 * The command line as data: each command says what it takes, and parseCommandLine() reads argv against it.
 * No parser library: yargs alone cost every command 15-20 ms of a 50 ms start, and the few rules our commands
 * need (typed flags, required flags, a flag that needs another, subcommands) fit in this file.
 */

/** A flag, written `--kebab-name`; its value is found under the camelCase name (`--node-port` → `nodePort`). */
export interface FlagSpec {
  readonly type: 'string' | 'number' | 'boolean';
  /** What --help says of it; a flag without one is left out of the help. */
  readonly describe?: string;
  readonly default?: string | number | boolean;
  /** The command cannot run without it. */
  readonly required?: boolean;
  /** May be given more than once; its value is the list of values given. */
  readonly repeatable?: boolean;
  /** Only together with this other flag (its kebab name). */
  readonly implies?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

/** A word the command takes after its name; all of them are required. */
export interface PositionalSpec {
  readonly name: string;
  readonly describe: string;
  /** Takes every remaining word (one at least); its value is the list. */
  readonly variadic?: boolean;
}

/** Everything about a command but its name and summary (which a parent, or main.ts, holds). */
export interface CommandBody {
  readonly positionals?: readonly PositionalSpec[];
  /** Flags of this command and of every command under it. */
  readonly flags?: FlagSpecs;
  /** What --help prints after the flags; `$0` stands for the program's name. */
  readonly epilog?: string;
  readonly subcommands?: readonly CommandSpec[];
  /** A command with subcommands has none of its own. */
  // biome-ignore lint/suspicious/noExplicitAny: each command reads the arguments its own flags give it.
  readonly run?: (args: any, io: CliIo) => Promise<ExitCode>;
}

export interface CommandSpec extends CommandBody {
  readonly name: string;
  readonly aliases?: readonly string[];
  readonly describe: string;
}

/** What the command line asks for. `path` runs from the program itself to the command named. */
export type ParsedCommandLine =
  | { readonly kind: 'run'; readonly path: readonly CommandSpec[]; readonly args: Readonly<Record<string, unknown>> }
  | { readonly kind: 'help'; readonly path: readonly CommandSpec[] }
  | { readonly kind: 'version' };

/** Bad usage: what is wrong, and the command whose --help tells how to do it right. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly path: readonly CommandSpec[],
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

const camelCase = (kebab: string): string => kebab.replace(/-([a-z0-9])/g, (_, letter: string) => letter.toUpperCase());

/** The flags in force at the end of `path`: each command's own, and those of every command above it. */
export function flagsOf(path: readonly CommandSpec[]): FlagSpecs {
  return Object.assign({}, ...path.map((command) => command.flags ?? {}));
}

/** One word of argv: a flag (`--name`, `--name=value`, `-h`) or a plain word, which `--` makes of all after it. */
interface Token {
  readonly index: number;
  readonly text: string;
  /** The flag's name without dashes. */
  readonly flag?: string;
  /** The value written after `=`. */
  readonly inline?: string;
  /** After `--`: a positional word whatever it looks like, never a flag's value. */
  readonly literal?: boolean;
}

function tokenize(args: readonly string[]): Token[] {
  const end = args.indexOf('--');
  const tokens: Token[] = [];
  args.forEach((text, index) => {
    if (index === end) return;
    if (end >= 0 && index > end) tokens.push({ index, text, literal: true });
    else if (!text.startsWith('-') || text === '-' || /^-\d/.test(text)) tokens.push({ index, text });
    else {
      const body = text.replace(/^--?/, '');
      const equals = body.indexOf('=');
      tokens.push(
        equals < 0
          ? { index, text, flag: body }
          : { index, text, flag: body.slice(0, equals), inline: body.slice(equals + 1) },
      );
    }
  });
  return tokens;
}

/** A word that can be a flag's value: not a flag itself (a negative number is a value), not after `--`. */
const isValue = (token: Token | undefined): token is Token =>
  token !== undefined && token.flag === undefined && token.literal !== true;

/** The spec of `--name` in `flags`: a name as written, or `no-NAME` turning a switch off. */
function lookUp(flags: FlagSpecs, name: string): { spec: FlagSpec; name: string; negated: boolean } | undefined {
  if (Object.hasOwn(flags, name)) return { spec: flags[name], name, negated: false };
  const negated = name.replace(/^no-/, '');
  if (negated !== name && flags[negated]?.type === 'boolean')
    return { spec: flags[negated], name: negated, negated: true };
  return undefined;
}

/** `--name` as some command under `command` defines it, when they all agree on whether it takes a value. */
function lookUpBelow(command: CommandSpec, name: string): ReturnType<typeof lookUp> {
  const found: NonNullable<ReturnType<typeof lookUp>>[] = [];
  const visit = (spec: CommandSpec): void => {
    const known = lookUp(spec.flags ?? {}, name);
    if (known !== undefined) found.push(known);
    for (const sub of spec.subcommands ?? []) visit(sub);
  };
  for (const sub of command.subcommands ?? []) visit(sub);
  const takesValue = (known: (typeof found)[number]): boolean => known.spec.type !== 'boolean';
  return found.length > 0 && found.every((known) => takesValue(known) === takesValue(found[0])) ? found[0] : undefined;
}

/**
 * Reads `args` against the program's command tree. Throws a UsageError for anything it cannot take as
 * written: an unknown flag or word, a flag without its value, a switch with a value other than true/false,
 * a number that is not one, a flag given twice, a missing subcommand, word or required flag.
 */
export function parseCommandLine(program: CommandSpec, args: readonly string[]): ParsedCommandLine {
  const tokens = tokenize(args);
  // The commands named, in order: each positional word names a subcommand while the command has some. A flag
  // before them that takes a value (`--dir X user list`) is known by then: it belongs to a command already named.
  const path: CommandSpec[] = [program];
  const commandWords = new Set<number>();
  let namingCommands = true;
  let askedForHelp = false;
  let askedForVersion = false;
  for (let at = 0; at < tokens.length; at++) {
    const token = tokens[at];
    if (token.flag === 'help' || token.flag === 'h') askedForHelp = true;
    else if (token.flag === 'version') askedForVersion = true;
    else if (token.flag !== undefined) {
      // A flag of a command not named yet (`cache --ttl 24h add docker.io`) is known from the commands below.
      const known = lookUp(flagsOf(path), token.flag) ?? lookUpBelow(path[path.length - 1], token.flag);
      if (known !== undefined && known.spec.type !== 'boolean' && token.inline === undefined && isValue(tokens[at + 1]))
        at++;
    } else if (namingCommands) {
      const named = (sub: CommandSpec): boolean =>
        sub.name === token.text || sub.aliases?.includes(token.text) === true;
      const next = token.literal ? undefined : path.at(-1)?.subcommands?.find(named);
      if (next === undefined) namingCommands = false;
      else {
        path.push(next);
        commandWords.add(token.index);
      }
    }
  }
  if (askedForHelp) return { kind: 'help', path };
  if (askedForVersion) return { kind: 'version' };
  return {
    kind: 'run',
    path,
    args: readArguments(
      path,
      tokens.filter((token) => !commandWords.has(token.index)),
    ),
  };
}

function readArguments(path: readonly CommandSpec[], tokens: readonly Token[]): Record<string, unknown> {
  const command = path[path.length - 1];
  const flags = flagsOf(path);
  const fail = (message: string): never => {
    throw new UsageError(message, path);
  };
  const given = new Map<string, (string | boolean)[]>();
  const words: string[] = [];
  const unknownFlags: string[] = [];
  for (let at = 0; at < tokens.length; at++) {
    const token = tokens[at];
    if (token.flag === undefined) {
      words.push(token.text);
      continue;
    }
    const known = token.text.startsWith('--') ? lookUp(flags, token.flag) : undefined;
    if (known === undefined) {
      unknownFlags.push(token.text.replace(/=.*$/s, ''));
      // Its value, if it has one, is no stray word of its own: `--node-prot 31113` is one mistake.
      if (token.inline === undefined && isValue(tokens[at + 1])) at++;
      continue;
    }
    const { spec, name, negated } = known;
    let value: string | boolean;
    if (spec.type === 'boolean') {
      if (token.inline !== undefined && !/^(true|false)$/.test(token.inline)) {
        fail(
          `--${token.flag} is a switch, got the value ${JSON.stringify(token.inline)}: write --${name} alone to turn it on (or =true / =false)`,
        );
      }
      value = (token.inline ?? 'true') === 'true' ? !negated : negated;
    } else if (token.inline !== undefined) value = token.inline;
    else if (isValue(tokens[at + 1])) value = tokens[++at].text;
    else value = fail(`--${name} needs a value: --${name} ${spec.type === 'number' ? 'N' : 'VALUE'}`);
    given.set(name, [...(given.get(name) ?? []), value]);
  }
  const positionals = command.positionals ?? [];
  const variadic = positionals.at(-1)?.variadic === true;
  const extra = words.slice(variadic ? words.length : positionals.length);
  if (unknownFlags.length > 0 || extra.length > 0) fail(unknownMessage(unknownFlags, extra));
  if (command.run === undefined) fail(nameASubcommand(command, path.length === 1));
  const missing = positionals.slice(words.length).map((positional) => `<${positional.name}>`);
  if (missing.length > 0) fail(`missing ${missing.join(' ')}`);

  const args: Record<string, unknown> = {};
  positionals.forEach((positional, index) => {
    args[camelCase(positional.name)] = positional.variadic ? words.slice(index) : words[index];
  });
  const missingFlags: string[] = [];
  for (const [name, spec] of Object.entries(flags)) {
    const values = given.get(name);
    if (values === undefined) {
      if (spec.required) missingFlags.push(`--${name}`);
      else if (spec.default !== undefined) args[camelCase(name)] = spec.default;
      continue;
    }
    if (values.length > 1 && !spec.repeatable) fail(`--${name} is given ${values.length} times: give it once`);
    const typed = values.map((value) => (spec.type === 'number' ? numberValue(name, value as string, fail) : value));
    args[camelCase(name)] = spec.repeatable ? typed : typed[0];
  }
  if (missingFlags.length > 0) fail(`missing ${missingFlags.join(', ')}`);
  for (const [name, spec] of Object.entries(flags)) {
    if (spec.implies !== undefined && given.has(name) && !given.has(spec.implies))
      fail(`--${name} needs --${spec.implies}`);
  }
  return args;
}

function numberValue(name: string, value: string, fail: (message: string) => never): number {
  const number = value.trim() === '' ? Number.NaN : Number(value);
  return Number.isNaN(number) ? fail(`--${name} must be a number, got ${JSON.stringify(value)}`) : number;
}

function unknownMessage(flags: readonly string[], words: readonly string[]): string {
  const plural = (list: readonly unknown[]): string => (list.length > 1 ? 's' : '');
  return [
    ...(flags.length > 0 ? [`unknown flag${plural(flags)} ${flags.join(', ')}`] : []),
    ...(words.length > 0
      ? [`unknown argument${plural(words)} ${words.map((word) => JSON.stringify(word)).join(', ')}`]
      : []),
  ].join('; ');
}

/** "name a user command: add, remove, list or verify" (the program's own: "name a command: init, user, ..."). */
function nameASubcommand(command: CommandSpec, isProgram: boolean): string {
  const names = (command.subcommands ?? []).map((sub) => sub.name);
  if (isProgram) return `name a command: ${names.join(', ')}`;
  const list = names.length > 1 ? `${names.slice(0, -1).join(', ')} or ${names.at(-1)}` : names.join('');
  // The article goes by sound: "an images command", but "a user command".
  return `name ${/^[aeio]/.test(command.name) ? 'an' : 'a'} ${command.name} command: ${list}`;
}
