/**
 * Command lines for the user to copy: every fix and hint the CLI prints. Apart from k3d-config, where they
 * began, so the many modules that print a command load nothing else.
 */

/** `args` as one POSIX shell command line. */
export function shellCommandLine(args: readonly string[]): string {
  return args.map(shellQuote).join(' ');
}

/** One shell word: plain characters as they are, anything else single-quoted. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_/.,:=+%@-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
