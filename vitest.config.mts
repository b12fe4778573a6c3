import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run apart: npm run test:faults (the kill and concurrency trials, vitest.faults.config.mts) and
    // npm run test:consumer (it installs packages, vitest.consumer.config.mts).
    exclude: [...configDefaults.exclude, 'test/faults/**', 'test/consumer/**'],
    globalSetup: ['test/global-setup.ts'],
    // RSA-2048 keys from a committed pool instead of generating each (test/support/rsa-key-pool.ts says why);
    // each file's temp directories removed when it ends.
    setupFiles: ['test/support/rsa-key-pool.ts', 'test/support/remove-temp-dirs.ts'],
    // A worker runs file after file in one process: Node, vitest and the modules the files share (cdk8s,
    // cdk8s-plus-28, lib/) load once per worker instead of once per file, ~17 s of CPU per run. Setup files
    // still run for every file; no test changes the process's environment or working directory for good.
    isolate: false,
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites that start real registries and containerd bind their own loopback ports; two cores.
    maxWorkers: 2,
  },
});
