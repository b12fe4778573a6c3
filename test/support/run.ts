import { execFile } from 'node:child_process';

export interface RunResult {
  /** Exit code; null when the process did not exit normally (spawn error, timeout, signal). */
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the process after this many milliseconds (default 60 s). */
  timeoutMs?: number;
  input?: string;
}

/**
 * Runs an executable (no shell) and collects its output. Never rejects: callers assert on `code`
 * so a failing command shows its stderr in the test report instead of an opaque exception.
 */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      {
        env: opts.env,
        cwd: opts.cwd,
        timeout: opts.timeoutMs ?? 60_000,
        killSignal: 'SIGKILL',
        maxBuffer: 64 * 1024 * 1024,
        encoding: 'utf8',
      },
      (error, stdout, stderr) => {
        if (!error) {
          resolve({ code: 0, stdout, stderr });
          return;
        }
        const exitCode = typeof error.code === 'number' ? error.code : null;
        // Say why there is no exit code (ENOENT, timeout, signal); a bare null explains nothing.
        const reason =
          exitCode !== null
            ? ''
            : `\n[run] ${cmd} did not exit normally: ${error.killed ? `killed after ${opts.timeoutMs ?? 60_000} ms timeout` : error.message}`;
        resolve({ code: exitCode, stdout, stderr: stderr + reason });
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}
