import type { LockOptions } from '../lib/material-lock';
import { underMaterialLock } from '../lib/material-transaction';
import { type CliIo, reportRecovered } from './io';

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
