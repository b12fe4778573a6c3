import fs from 'node:fs';
import { DEFAULT_MATERIAL_DIR } from '../lib/defaults';
import { ValidationError } from '../lib/validate';

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
  /** All of standard input (for --password-stdin), as bytes: whether they are UTF-8 is checked, not guessed. */
  readStdin(): Promise<Uint8Array>;
  readonly now: () => Date;
  readonly env: Readonly<Record<string, string | undefined>>;
}

export function processIo(): CliIo {
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    readStdin: async () => {
      const chunks = readStdinSync();
      // A non-blocking stdin (shared with a parent that set it so) that had nothing yet: the rest as a stream.
      if (chunks.eagain) for await (const chunk of process.stdin) chunks.read.push(Buffer.from(chunk as Buffer));
      return Buffer.concat(chunks.read);
    },
    now: () => new Date(),
    env: process.env,
  };
}

/** The material directory when --dir is not given (REGISTRY_MATERIAL_DIR, like synth, or "registry"). */
export function defaultMaterialDir(io: CliIo): string {
  return io.env.REGISTRY_MATERIAL_DIR ?? DEFAULT_MATERIAL_DIR;
}

/**
 * Standard input read with plain blocking reads, up to its end: process.stdin would load and start Node's
 * stream machinery (net, tty, async iteration), milliseconds a command reading one password does not need.
 * `eagain` when the descriptor is non-blocking and ran dry before its end: what was read is kept, and the
 * caller reads the rest as a stream, which waits for it.
 */
function readStdinSync(): { read: Buffer[]; eagain: boolean } {
  const read: Buffer[] = [];
  for (;;) {
    const buffer = Buffer.allocUnsafe(64 * 1024);
    let count: number;
    try {
      count = fs.readSync(0, buffer, 0, buffer.length, null);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') return { read, eagain: true };
      if (code === 'EOF') return { read, eagain: false }; // Windows: a closed pipe
      throw error;
    }
    if (count === 0) return { read, eagain: false };
    read.push(buffer.subarray(0, count));
  }
}

/**
 * A password piped in, like `docker login --password-stdin`: one trailing newline is not part of it.
 * Bytes that are not UTF-8 are refused: decoding them would store U+FFFD, which no client ever sends.
 */
export async function readPasswordFromStdin(io: CliIo): Promise<string> {
  const bytes = await io.readStdin();
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new ValidationError(
      `'password' is not valid UTF-8 (${firstInvalidUtf8(bytes)}): registry clients send the password as UTF-8; pipe in the password as UTF-8 text`,
    );
  }
  return text.replace(/\r?\n$/, '');
}

/** Where the first byte that is not UTF-8 is, e.g. "byte 0xff at offset 3". */
function firstInvalidUtf8(bytes: Uint8Array): string {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  for (let offset = 0; offset < bytes.length; offset++) {
    try {
      // Streaming lets a sequence wait for its next byte, so the byte that breaks one is the one that throws.
      decoder.decode(bytes.subarray(offset, offset + 1), { stream: true });
    } catch {
      return `byte 0x${bytes[offset].toString(16).padStart(2, '0')} at offset ${offset}`;
    }
  }
  return 'the last character is cut short';
}

/** What the command first finished or removed after an interrupted one (see recoverMaterial). */
export function reportRecovered(recovered: readonly string[], io: CliIo): void {
  for (const line of recovered) io.stderr.write(`recovered: ${line}\n`);
}
