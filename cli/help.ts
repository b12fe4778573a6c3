import { type CommandSpec, type FlagSpec, flagsOf } from './command-line';

/** Lines are wrapped to this many columns. */
const WIDTH = 100;
/** A label wider than this puts its text on the next line instead of pushing every row's text right. */
const MAX_LABEL = 34;

/** The --help of the last command of `path`: usage, summary, its commands, arguments, flags and epilog. */
export function renderHelp(path: readonly CommandSpec[], program: string): string {
  const command = path[path.length - 1];
  const words = [program, ...path.slice(1).map((spec) => spec.name)].join(' ');
  const sections = [
    `${usageOf(words, command)}${command.subcommands === undefined ? '' : ' <command>'} [flags]`,
    wrap(command.describe, 0),
  ];
  if (command.subcommands !== undefined) {
    const rows = command.subcommands.map(
      (sub): Row => [
        usageOf(`${words} ${sub.name}`, sub),
        sub.aliases === undefined ? sub.describe : `${sub.describe} (also: ${sub.aliases.join(', ')})`,
      ],
    );
    sections.push(`Commands:\n${table(rows)}`);
  }
  if (command.positionals !== undefined && command.positionals.length > 0) {
    const rows = command.positionals.map((positional): Row => [placeholder(positional), positional.describe]);
    sections.push(`Arguments:\n${table(rows)}`);
  }
  // The command's own flags first, then those it shares with the commands above it.
  const own = Object.entries(command.flags ?? {});
  const inherited = Object.entries(flagsOf(path.slice(0, -1))).filter(([name]) => command.flags?.[name] === undefined);
  const flagRows = [...own, ...inherited]
    .filter(([, spec]) => spec.describe !== undefined)
    .map(([name, spec]): Row => [flagLabel(name, spec), flagText(spec)]);
  flagRows.push(['-h, --help', 'Show this help'], ['--version', 'Show the version']);
  sections.push(`Flags:\n${table(flagRows)}`);
  if (command.epilog !== undefined) sections.push(command.epilog.replaceAll('$0', program));
  return `${sections.join('\n\n')}\n`;
}

type Row = readonly [label: string, text: string];

function usageOf(words: string, command: CommandSpec): string {
  return [words, ...(command.positionals ?? []).map(placeholder)].join(' ');
}

function placeholder(positional: { readonly name: string; readonly variadic?: boolean }): string {
  return `<${positional.name}${positional.variadic ? '..' : ''}>`;
}

function flagLabel(name: string, spec: FlagSpec): string {
  return spec.type === 'boolean' ? `--${name}` : `--${name} <${spec.type}>`;
}

function flagText(spec: FlagSpec): string {
  const notes = [
    ...(spec.required ? ['required'] : []),
    // A switch is off unless given: only a default of on is worth saying.
    ...(spec.default !== undefined && spec.default !== false ? [`default: ${spec.default}`] : []),
  ];
  return notes.length === 0 ? (spec.describe ?? '') : `${spec.describe} (${notes.join(', ')})`;
}

/** Rows of label and text, the texts in one column, wrapped under themselves. */
function table(rows: readonly Row[]): string {
  const width = Math.min(MAX_LABEL, Math.max(...rows.map(([label]) => label.length)));
  const indent = 2 + width + 2;
  return rows
    .map(([label, text]) =>
      label.length > width
        ? `  ${label}\n${' '.repeat(indent)}${wrap(text, indent)}`
        : `  ${label.padEnd(width)}  ${wrap(text, indent)}`,
    )
    .join('\n');
}

/** `text` in lines of at most WIDTH columns, every line but the first indented by `indent`; its own line breaks kept. */
function wrap(text: string, indent: number): string {
  const room = Math.max(20, WIDTH - indent);
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(' ')) {
      if (line !== '' && line.length + 1 + word.length > room) {
        lines.push(line);
        line = word;
      } else line = line === '' ? word : `${line} ${word}`;
    }
    lines.push(line);
  }
  return lines.join(`\n${' '.repeat(indent)}`);
}
