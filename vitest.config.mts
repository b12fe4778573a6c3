import { configDefaults, defineConfig } from 'vitest/config';
import { BaseSequencer, type TestSpecification } from 'vitest/node';

/**
 * The longest suites start first, so the two workers finish together. Vitest orders by the durations of the
 * last run (in node_modules/.vite); a fresh clone has none, and its fallback (bigger files first) started the
 * staleness and e2e suites last: 107 s instead of 65 s. The rest keep vitest's order.
 */
const LONGEST_FIRST = [
  'test/garbage-collection.real.test.ts',
  'test/node-pull.real.test.ts',
  'test/s3-replicas.real.test.ts',
  'test/bad-input.real.test.ts',
  'test/synth-staleness.test.ts',
  'test/bad-input.test.ts',
  'test/synth.test.ts',
  'test/cli/e2e.test.ts',
  'test/pull-through-cache.real.test.ts',
  'test/private-app.test.ts',
  'test/rsa-key.test.ts',
  'test/cli/images.real.test.ts',
];

class LongestFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const rank = (file: TestSpecification) => {
      const index = LONGEST_FIRST.findIndex((suffix) => file.moduleId.endsWith(`/${suffix}`));
      return index === -1 ? LONGEST_FIRST.length : index;
    };
    // Array.prototype.sort is stable: within a rank, vitest's order stays.
    return (await super.sort(files)).sort((a, b) => rank(a) - rank(b));
  }
}

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run apart: npm run test:faults (the kill and concurrency trials, vitest.faults.config.mts) and
    // npm run test:consumer (it installs packages, vitest.consumer.config.mts).
    exclude: [...configDefaults.exclude, 'test/faults/**', 'test/consumer/**'],
    // The run's temp directory in RAM when there is room (test/temp-in-ram.ts), then the build and that directory.
    globalSetup: ['test/temp-in-ram.ts', 'test/global-setup.ts'],
    // A machine may name its whole CA bundle in NODE_EXTRA_CA_CERTS (this one does): every Node process that
    // inherits it parses those ~140 certificates at start (node -e "" 31 → 106 ms here), and the suites start
    // hundreds. Empty is none to Node. The tests are offline; a child that must trust a CA is given its own
    // (pull-through-cache.real.test.ts). Here, not in the global setup: the benchmarks keep your environment.
    env: { NODE_EXTRA_CA_CERTS: '' },
    // RSA-2048 keys from the primes of a committed pool instead of new ones (test/support/rsa-key-pool.ts says why);
    // each file's temp directories removed when it ends.
    setupFiles: ['test/support/rsa-key-pool.ts', 'test/support/remove-temp-dirs.ts'],
    // A worker runs file after file in one process: Node, vitest and the modules the files share (cdk8s,
    // cdk8s-plus-28, lib/) load once per worker instead of once per file, ~17 s of CPU per run. Setup files
    // still run for every file; no test changes the process's environment or working directory for good.
    isolate: false,
    sequence: { sequencer: LongestFirstSequencer },
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Three workers on two cores: the real suites spend much of their time waiting (a registry or containerd
    // starting, a collection held for 2 s, 1-second hosts loops), and a third worker uses that idle CPU. Measured
    // here, alternated in one sitting: 35.7 and 34.7 s of wall with 2, 29.9 and 31.8 s with 3, 31.8 s with 4.
    // Each suite binds its own loopback ports (test/support/free-port.ts).
    maxWorkers: 3,
  },
});
