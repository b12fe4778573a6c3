import { shellQuote } from '../lib/shell-words';
import { applyCommand } from '../lib/material-dir';
import { ValidationError } from '../lib/validate';
import { type CliIo, type ExitCode, defaultMaterialDir } from './io';

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
    for (const [field, flag] of Object.entries({ ...COMMON_FLAGS, ...names }))
      message = message.split(`'${field}'`).join(flag);
    throw new ValidationError(message);
  }
}

/**
 * `--dir X` for a printed private-registry command line, or nothing when X is the directory the command
 * finds by itself (REGISTRY_MATERIAL_DIR, else "registry").
 */
export function dirFlag(dir: string, io: CliIo): string {
  return dir === defaultMaterialDir(io) ? '' : ` --dir ${shellQuote(dir)}`;
}

/** `dir` when synth (which reads REGISTRY_MATERIAL_DIR, else "registry") would not find it by itself. */
export function materialDirForSynth(dir: string, io: CliIo): string | undefined {
  return dir === defaultMaterialDir(io) ? undefined : dir;
}

/** The synth-and-apply command line for the material in `dir`. */
export function applyCommandFor(dir: string, io: CliIo): string {
  return applyCommand({ materialDir: materialDirForSynth(dir, io) });
}
