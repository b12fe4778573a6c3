import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Credentials } from '../../lib/htpasswd';
import { withPath } from './child-process';
import { run, type RunResult } from './run';

/** Runs a command somewhere: `run` on this machine, or a node sandbox's `execInNode`. */
export type Runner = (
  cmd: string,
  args: readonly string[],
  options: { env: Record<string, string>; timeoutMs: number },
) => Promise<RunResult>;

export interface SkopeoCopyOptions {
  /** e.g. `oci:/tmp/layout:latest` */
  from: string;
  /** e.g. `docker://localhost:5000/app:latest` */
  to: string;
  /** Destination registry credentials (--dest-creds). */
  creds?: Credentials;
  /** Directory holding the destination registry's ca.crt (--dest-cert-dir); no *.key files in it (skopeo takes those as client keys). */
  certDir?: string;
  timeoutMs?: number;
  /** Where skopeo runs (default: this machine). */
  runner?: Runner;
  /** Copy every image of an index (--all), not just this machine's platform. */
  all?: boolean;
  /** Credentials of the source registry (--src-creds) and its CA directory (--src-cert-dir). */
  srcCreds?: Credentials;
  srcCertDir?: string;
}

export interface SkopeoInspectOptions {
  /** e.g. `docker://localhost:5000/app:latest` */
  ref: string;
  creds?: Credentials;
  /** Directory holding the registry's ca.crt (--cert-dir); no *.key files in it. */
  certDir?: string;
  timeoutMs?: number;
}

const credsArg = (c: Credentials): string => `${c.username}:${c.password}`;

/**
 * Runs skopeo in a throwaway HOME with an empty auth file and no policy check, so results depend only
 * on what the test passes, never on credentials or policy.json left on the machine by someone else.
 * (As root, skopeo 1.9 still updates /var/lib/containers/cache/blob-info-cache-v1.boltdb, a
 * digest→location cache without credentials; it has no flag to move it.)
 */
async function skopeo(
  subcommand: string,
  args: string[],
  timeoutMs: number | undefined,
  runner: Runner = run,
): Promise<RunResult> {
  const home = await mkdtemp(join(tmpdir(), 'skopeo-home-'));
  try {
    const authfile = join(home, 'auth.json');
    await writeFile(authfile, '{}');
    const env = withPath({
      HOME: home,
      XDG_RUNTIME_DIR: home,
      XDG_CONFIG_HOME: join(home, '.config'),
      REGISTRY_AUTH_FILE: authfile,
      DOCKER_CONFIG: join(home, '.docker'),
    });
    const globalArgs = ['--insecure-policy', '--tmpdir', home];
    return await runner('skopeo', [...globalArgs, subcommand, '--authfile', authfile, ...args], {
      env,
      timeoutMs: timeoutMs ?? 120_000,
    });
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}

/** `skopeo copy`; resolves with the exit code and output, never rejects on failure. */
export function skopeoCopy(options: SkopeoCopyOptions): Promise<RunResult> {
  const args: string[] = [];
  if (options.creds) args.push('--dest-creds', credsArg(options.creds));
  if (options.certDir) args.push('--dest-cert-dir', options.certDir);
  if (options.srcCreds) args.push('--src-creds', credsArg(options.srcCreds));
  if (options.srcCertDir) args.push('--src-cert-dir', options.srcCertDir);
  if (options.all) args.push('--all');
  args.push(options.from, options.to);
  return skopeo('copy', args, options.timeoutMs, options.runner);
}

/** `skopeo inspect`; stdout is the JSON on success. Never rejects on failure. */
export function skopeoInspect(options: SkopeoInspectOptions): Promise<RunResult> {
  const args: string[] = [];
  if (options.creds) args.push('--creds', credsArg(options.creds));
  if (options.certDir) args.push('--cert-dir', options.certDir);
  args.push(options.ref);
  return skopeo('inspect', args, options.timeoutMs);
}
