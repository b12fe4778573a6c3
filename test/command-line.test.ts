import { describe, expect, it } from 'vitest';
import { type CommandSpec, type ParsedCommandLine, UsageError, parseCommandLine } from '../cli/command-line';
import { renderHelp } from '../cli/help';

const run = async () => 0 as const;

/** A program shaped like ours: a global flag, a command with subcommands, a leaf with flags of each kind. */
const PROGRAM: CommandSpec = {
  name: 'prog',
  describe: 'A test program.',
  flags: { dir: { type: 'string', default: 'registry', describe: 'Material directory' } },
  subcommands: [
    {
      name: 'user',
      describe: 'Users',
      subcommands: [
        {
          name: 'add',
          describe: 'Add a user',
          positionals: [{ name: 'name', describe: 'User name' }],
          flags: {
            'password-stdin': { type: 'boolean', default: false, describe: 'Read the password from stdin' },
            'node-user': { type: 'string', implies: 'password-stdin', describe: 'Switch the nodes' },
          },
          epilog: 'Example:\n  $0 user add ci',
          run,
        },
        {
          name: 'rm',
          aliases: ['remove'],
          describe: 'Remove a user',
          positionals: [{ name: 'name', describe: 'x' }],
          run,
        },
      ],
    },
    {
      name: 'images',
      describe: 'Images',
      flags: { 'page-size': { type: 'number' } },
      subcommands: [
        {
          name: 'rm',
          describe: 'Delete images',
          positionals: [{ name: 'images', variadic: true, describe: 'REPO:TAG' }],
          run,
        },
      ],
    },
    {
      name: 'k3d-config',
      describe: 'A k3d config',
      flags: {
        agents: { type: 'number', default: 0, describe: 'Agent nodes' },
        cache: { type: 'string', repeatable: true, describe: 'Upstreams' },
        region: { type: 'string', required: true, describe: 'Bucket region' },
      },
      run,
    },
  ],
};

const parse = (...args: string[]): ParsedCommandLine => parseCommandLine(PROGRAM, args);
const commandOf = (parsed: ParsedCommandLine): string =>
  'path' in parsed ? parsed.path.map((command) => command.name).join(' ') : parsed.kind;
const argsOf = (...args: string[]): Readonly<Record<string, unknown>> => {
  const parsed = parse(...args);
  if (parsed.kind !== 'run') throw new Error(`expected a command to run, got ${parsed.kind}`);
  return parsed.args;
};
/** The UsageError the command line is refused with: its message, and the command whose --help it points at. */
const refusal = (...args: string[]): { message: string; command: string } => {
  try {
    parse(...args);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    return { message: error.message, command: error.path.map((command) => command.name).join(' ') };
  }
  throw new Error(`expected ${JSON.stringify(args)} to be refused`);
};

describe('parseCommandLine', () => {
  it('finds the command after a global flag and its value, and reads flags anywhere', () => {
    const parsed = parse('--dir', 'my dir', 'user', 'add', 'bob', '--password-stdin');
    expect(commandOf(parsed)).toBe('prog user add');
    expect(argsOf('--dir', 'my dir', 'user', 'add', 'bob', '--password-stdin')).toEqual({
      dir: 'my dir',
      name: 'bob',
      passwordStdin: true,
    });
  });

  it('gives each flag under its camelCase name, with its default when it is not given', () => {
    expect(argsOf('user', 'add', 'bob')).toEqual({ dir: 'registry', name: 'bob', passwordStdin: false });
    expect(argsOf('user', 'add', 'bob', '--node-user=other', '--password-stdin')).toEqual({
      dir: 'registry',
      name: 'bob',
      nodeUser: 'other',
      passwordStdin: true,
    });
  });

  it("reads a subcommand's flag and its value written before the subcommand's name", () => {
    expect(commandOf(parse('user', '--node-user', 'other', 'add', 'bob', '--password-stdin'))).toBe('prog user add');
    expect(argsOf('user', '--node-user', 'other', 'add', 'bob', '--password-stdin').nodeUser).toBe('other');
    // Still refused where the command named does not take it.
    expect(refusal('user', '--node-user', 'other', 'rm', 'bob').message).toBe('unknown flag --node-user');
  });

  it('names a command by an alias', () => {
    expect(commandOf(parse('user', 'remove', 'bob'))).toBe('prog user rm');
  });

  it('reads switches as true/false, --no-NAME turning one off, and refuses any other value', () => {
    expect(argsOf('user', 'add', 'bob', '--password-stdin=false').passwordStdin).toBe(false);
    expect(argsOf('user', 'add', 'bob', '--password-stdin=true').passwordStdin).toBe(true);
    expect(argsOf('user', 'add', 'bob', '--no-password-stdin').passwordStdin).toBe(false);
    expect(refusal('user', 'add', 'bob', '--password-stdin=yes')).toEqual({
      message:
        '--password-stdin is a switch, got the value "yes": write --password-stdin alone to turn it on (or =true / =false)',
      command: 'prog user add',
    });
    expect(refusal('user', 'add', 'bob', '--no-password-stdin=1').message).toMatch(/^--no-password-stdin is a switch/);
  });

  it('reads numbers, negative ones too, and refuses what is not one', () => {
    expect(argsOf('k3d-config', '--region', 'r', '--agents', '3').agents).toBe(3);
    expect(argsOf('k3d-config', '--region', 'r', '--agents', '-1').agents).toBe(-1);
    expect(refusal('k3d-config', '--region', 'r', '--agents', 'many').message).toBe(
      '--agents must be a number, got "many"',
    );
    expect(refusal('k3d-config', '--region', 'r', '--agents=').message).toBe('--agents must be a number, got ""');
  });

  it('refuses a flag that needs a value and has none: at the end, or before another flag', () => {
    expect(refusal('user', 'add', 'bob', '--dir')).toEqual({
      message: '--dir needs a value: --dir VALUE',
      command: 'prog user add',
    });
    expect(refusal('user', 'add', 'bob', '--node-user', '--password-stdin').message).toBe(
      '--node-user needs a value: --node-user VALUE',
    );
    expect(refusal('images', '--page-size').message).toBe('--page-size needs a value: --page-size N');
  });

  it('takes everything after -- as words, never as flags or values', () => {
    expect(argsOf('user', 'add', '--', '--password-stdin').name).toBe('--password-stdin');
    expect(refusal('user', 'add', 'bob', '--node-user', '--', 'x').message).toBe(
      '--node-user needs a value: --node-user VALUE',
    );
    expect(parse('user', 'add', '--', '--help').kind).toBe('run');
  });

  it('refuses a flag given twice, and lists the values of a repeatable one', () => {
    expect(refusal('user', 'add', 'bob', '--dir', 'a', '--dir=b').message).toBe('--dir is given 2 times: give it once');
    expect(argsOf('k3d-config', '--region', 'r', '--cache', 'docker.io', '--cache', 'ghcr.io').cache).toEqual([
      'docker.io',
      'ghcr.io',
    ]);
    expect(argsOf('k3d-config', '--region', 'r', '--cache', 'docker.io').cache).toEqual(['docker.io']);
  });

  it('names every unknown flag and stray word in one message; an unknown flag takes its value along', () => {
    expect(refusal('user', 'add', 'bob', 'extra', '--bogus', '--x=1', '-v', 'more')).toEqual({
      message: 'unknown flags --bogus, --x, -v; unknown argument "extra"',
      command: 'prog user add',
    });
    expect(refusal('user', 'add', 'bob', '--nmae', 'alice').message).toBe('unknown flag --nmae');
    expect(refusal('instal').message).toBe('unknown argument "instal"');
    expect(refusal('user', 'ad', 'bob')).toEqual({ message: 'unknown arguments "ad", "bob"', command: 'prog user' });
  });

  it('asks for a subcommand by the names it has', () => {
    expect(refusal()).toEqual({ message: 'name a command: user, images, k3d-config', command: 'prog' });
    expect(refusal('user')).toEqual({ message: 'name a user command: add or rm', command: 'prog user' });
    expect(refusal('images').message).toBe('name an images command: rm');
  });

  it('refuses a missing word, a missing required flag, and a flag without the flag it needs', () => {
    expect(refusal('user', 'add')).toEqual({ message: 'missing <name>', command: 'prog user add' });
    expect(refusal('images', 'rm').message).toBe('missing <images>');
    expect(refusal('k3d-config').message).toBe('missing --region');
    expect(refusal('user', 'add', 'bob', '--node-user', 'other').message).toBe('--node-user needs --password-stdin');
  });

  it('gives a variadic word every remaining word, flags read from among them', () => {
    expect(argsOf('images', 'rm', 'a:1', '--page-size', '2', 'b:2')).toEqual({
      dir: 'registry',
      images: ['a:1', 'b:2'],
      pageSize: 2,
    });
  });

  it('answers --help and -h anywhere before --, for the command named so far, before any error', () => {
    expect(commandOf(parse('user', 'add', '--bogus', '--help'))).toBe('prog user add');
    expect(parse('user', 'add', '--help').kind).toBe('help');
    expect(commandOf(parse('-h', 'user'))).toBe('prog user');
    expect(commandOf(parse('instal', '--help'))).toBe('prog');
    expect(parse('--version').kind).toBe('version');
  });
});

describe('renderHelp', () => {
  const help = (...names: string[]): string => {
    const parsed = parse(...names, '--help');
    if (parsed.kind !== 'help') throw new Error('expected help');
    return renderHelp(parsed.path, 'prog');
  };

  it('shows the usage, the summary, the arguments and the flags, own ones first, then the epilog', () => {
    expect(help('user', 'add')).toBe(
      [
        'prog user add <name> [flags]',
        '',
        'Add a user',
        '',
        'Arguments:',
        '  <name>  User name',
        '',
        'Flags:',
        '  --password-stdin      Read the password from stdin',
        '  --node-user <string>  Switch the nodes',
        '  --dir <string>        Material directory (default: registry)',
        '  -h, --help            Show this help',
        '  --version             Show the version',
        '',
        'Example:',
        '  prog user add ci',
        '',
      ].join('\n'),
    );
  });

  it('lists the subcommands with their words, and leaves out a flag without a description', () => {
    const text = help('images');
    expect(text).toMatch(/^prog images <command> \[flags\]\n/);
    expect(text).toContain('\n  prog images rm <images..>  Delete images\n');
    expect(text).not.toContain('page-size');
    expect(help('user')).toContain('  prog user rm <name>   Remove a user (also: remove)\n');
  });

  it('says which flags are required and which switches are on by default', () => {
    expect(help('k3d-config')).toContain('  --region <string>  Bucket region (required)\n');
    expect(help('k3d-config')).toContain('  --agents <number>  Agent nodes (default: 0)\n');
  });

  it('wraps a long description under itself, within 100 columns', () => {
    const long: CommandSpec = {
      name: 'prog',
      describe: 'Short.',
      flags: { verbose: { type: 'boolean', describe: 'word '.repeat(40).trim() } },
      run,
    };
    const lines = renderHelp([long], 'prog').split('\n');
    const first = lines.findIndex((line) => line.startsWith('  --verbose  '));
    const column = lines[first].indexOf('word');
    expect(lines[first + 1]).toMatch(new RegExp(`^ {${column}}word`));
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(100);
  });
});
