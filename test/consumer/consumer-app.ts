import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { type RunResult, run } from '../support/run';

/** The versions a consumer of the package may have: the axes of the consumer suite. */
export const TYPESCRIPT = { '5.9': '5.9.3', current: '^7.0.0' } as const;
/** The lowest versions the peer ranges allow, and the ranges themselves (npm installs their highest). */
export const CDK8S = {
  lowest: { cdk8s: '2.70.0', constructs: '10.3.0' },
  highest: { cdk8s: '^2.70.0', constructs: '^10.3.0' },
} as const;

export type ModuleKind = 'commonjs' | 'esm';

export interface ConsumerAppOptions {
  readonly dir: string;
  /** The `npm pack` tarball of this package (vitest.consumer.config's global setup makes it). */
  readonly tarball: string;
  readonly module: ModuleKind;
  readonly typescript: string;
  readonly cdk8s: { readonly cdk8s: string; readonly constructs: string };
  /** More devDependencies, e.g. a test runner. */
  readonly devDependencies?: Record<string, string>;
  /** The files tsc compiles. @default - every .ts file of the app */
  readonly include?: readonly string[];
}

/** Long enough for a first, uncached install on a shared two-core machine. */
export const INSTALL_TIMEOUT_MS = 540_000;

/**
 * The tsconfig a consumer starts from: cdk8s-cli's own typescript-app template for CommonJS (it has no
 * skipLibCheck), and `module: nodenext` for ESM. Both strict, neither skips checking the libraries' types.
 */
function tsconfigFor(module: ModuleKind, include: readonly string[] | undefined): object {
  const common = { strict: true, noImplicitAny: true, noUnusedLocals: true, declaration: false, types: ['node'] };
  const compilerOptions =
    module === 'commonjs'
      ? { ...common, module: 'commonjs', target: 'ES2017', lib: ['es2016'] }
      : { ...common, module: 'nodenext', moduleResolution: 'nodenext', target: 'ES2022' };
  return include ? { compilerOptions, include } : { compilerOptions };
}

/** npm, quiet and from the cache where it can (a second run of the suite downloads nothing). */
export function npm(args: readonly string[], cwd: string, timeoutMs = INSTALL_TIMEOUT_MS): Promise<RunResult> {
  return run('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund', '--no-update-notifier'], {
    cwd,
    timeoutMs,
    env: { ...process.env, npm_config_loglevel: 'warn' },
  });
}

/** Writes a fresh app that depends on the tarball, installs it, and returns npm's output. */
export async function createConsumerApp(options: ConsumerAppOptions) {
  mkdirSync(options.dir, { recursive: true });
  const manifest = {
    name: 'consumer-app',
    version: '1.0.0',
    private: true,
    type: options.module === 'esm' ? 'module' : 'commonjs',
    dependencies: {
      'cdk8s-private-registry': `file:${options.tarball}`,
      cdk8s: options.cdk8s.cdk8s,
      constructs: options.cdk8s.constructs,
    },
    devDependencies: { typescript: options.typescript, '@types/node': '^20.19.0', ...options.devDependencies },
  };
  writeFileSync(join(options.dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(
    join(options.dir, 'tsconfig.json'),
    JSON.stringify(tsconfigFor(options.module, options.include), null, 2),
  );
  const install = await npm(['install'], options.dir);
  expect(install.code, install.stderr).toBe(0);
  return install;
}

/** Every installed copy of a package, by its location in the tree (npm ls --all --parseable lists each once). */
export async function installedCopies(dir: string, name: string): Promise<string[]> {
  const result = await npm(['ls', name, '--all', '--parseable'], dir, 60_000);
  expect(result.code, result.stderr).toBe(0);
  return result.stdout
    .split('\n')
    .filter((line) => line.endsWith(`/node_modules/${name}`))
    .map((line) => line.slice(dir.length + 1));
}

export function installedVersion(dir: string, name: string): string {
  return JSON.parse(readFileSync(join(dir, 'node_modules', name, 'package.json'), 'utf8')).version;
}

/**
 * The environment of a test runner started inside the app: none of this vitest run's own variables, and not
 * CI's `CI=true` (under which jest and vitest refuse to write a new snapshot): the caller says when it is CI.
 */
export function runnerEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(VITEST|NODE_ENV$|TEST$|JEST|CI$)/.test(name)),
  );
}

/** The app's own tsc (the TypeScript version under test), over the app's tsconfig. */
export function tsc(dir: string, args: readonly string[] = []): Promise<RunResult> {
  return run(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir, ...args], {
    cwd: dir,
    timeoutMs: 300_000,
  });
}
