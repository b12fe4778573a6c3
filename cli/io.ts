/** Exit codes: every command ends with one of these. */
export const EXIT_OK = 0;
/**
 * A check failed (doctor, user verify, trust --write that could not write everything): the input was fine,
 * the answer is no. An unexpected error (a bug) exits 1 too, as node programs do, and says so.
 */
export const EXIT_CHECK_FAILED = 1;
/** Bad usage or bad input: a flag, a value, or the material directory needs fixing first. */
export const EXIT_BAD_INPUT = 2;
export type ExitCode = typeof EXIT_OK | typeof EXIT_CHECK_FAILED | typeof EXIT_BAD_INPUT;

export interface TextSink {
  write(text: string): unknown;
}

/** Everything a command touches besides the files it is pointed at, so tests can hand in their own. */
export interface CliIo {
  /** Data: what a script would capture. */
  readonly stdout: TextSink;
  /** Logs, progress, warnings, errors. */
  readonly stderr: TextSink;
  /** All of standard input (for --password-stdin). */
  readStdin(): Promise<string>;
  readonly now: () => Date;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(Buffer.from(chunk as Buffer));
      return Buffer.concat(chunks).toString('utf8');
    },
    now: () => new Date(),
    env: process.env,
  };
}

/** A password piped in, like `docker login --password-stdin`: one trailing newline is not part of it. */
export async function readPasswordFromStdin(io: CliIo): Promise<string> {
  return (await io.readStdin()).replace(/\r?\n$/, '');
}

/** What the command first finished or removed after an interrupted one (see recoverMaterial). */
export function reportRecovered(recovered: readonly string[], io: CliIo): void {
  for (const line of recovered) io.stderr.write(`recovered: ${line}\n`);
}
