import { shellQuote } from '../lib/k3d-config';
import { ValidationError } from '../lib/validate';
import { ExitCode } from './io';

/** Library field name → how the same value is given on the command line. */
export type FlagNames = Readonly<Record<string, string>>;

/** Fields every command shares. */
const COMMON_FLAGS: FlagNames = { dir: '--dir' };

/**
 * Runs `fn`, rewording the library's field names (`'nodePort' must be ...`) into the flags the user typed
 * (`--node-port must be ...`). The library stays the one place that words each rule.
 */
export async function withFlagNames(names: FlagNames, fn: () => Promise<ExitCode>): Promise<ExitCode> {
  try {
    return await fn();
  } catch (error) {
    if (!(error instanceof ValidationError)) throw error;
    let message = error.message;
    for (const [field, flag] of Object.entries({ ...COMMON_FLAGS, ...names })) message = message.split(`'${field}'`).join(flag);
    throw new ValidationError(message);
  }
}

/** `--dir X` for a printed command line, or nothing for the default directory. */
export function dirFlag(dir: string, defaultDir: string): string {
  return dir === defaultDir ? '' : ` --dir ${shellQuote(dir)}`;
}

