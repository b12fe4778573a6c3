import type { Argv, CommandModule } from 'yargs';
import { DEFAULT_MATERIAL_DIR } from '../lib/defaults';
import type { LockOptions } from '../lib/material-lock';
import { underMaterialLock } from '../lib/material-transaction';
import { type CliIo, type ExitCode, reportRecovered } from './io';

/** What main() hands every command module: the io, and where a handler's outcome goes. */
export interface CommandContext {
  readonly io: CliIo;
  /** The material directory when --dir is not given (REGISTRY_MATERIAL_DIR, like synth, or "registry"). */
  readonly defaultDir: string;
  /** Records a handler's exit code, or the error it threw, for main() to report. */
  settle(outcome: { code: ExitCode } | { error: unknown }): void;
}

/** A command's flags and handler; its name and summary are in main.ts, which loads the module only when it runs. */
export type CommandFactory = (context: CommandContext) => {
  // biome-ignore lint/suspicious/noExplicitAny: each command's builder adds flags of its own types.
  readonly builder: (parser: Argv) => Argv<any>;
  readonly handler: CommandModule['handler'];
};

export function defaultMaterialDir(io: CliIo): string {
  return io.env.REGISTRY_MATERIAL_DIR ?? DEFAULT_MATERIAL_DIR;
}

/**
 * A yargs handler around `run`. Errors are recorded rather than thrown, so main() can tell a usage error
 * (thrown by yargs while parsing) from a handler's error.
 */
export function handler<A>(
  context: CommandContext,
  run: (args: A, io: CliIo) => Promise<ExitCode>,
): (argv: unknown) => Promise<void> {
  return async (argv) => {
    try {
      context.settle({ code: await run(argv as A, context.io) });
    } catch (error) {
      context.settle({ error });
    }
  };
}

/**
 * Runs `fn` under the material lock of `dir` (one writer at a time, readers see a whole snapshot), after
 * saying on stderr what an interrupted command had left and was finished or removed first.
 */
export function withMaterial<T>(dir: string, io: CliIo, fn: () => T, options: LockOptions = {}): T {
  return underMaterialLock(
    dir,
    (recovered) => {
      reportRecovered(recovered, io);
      return fn();
    },
    options,
  );
}
