import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run apart: npm run test:faults (the kill and concurrency trials, vitest.faults.config.mts) and
    // npm run test:consumer (it installs packages, vitest.consumer.config.mts).
    exclude: [...configDefaults.exclude, 'test/faults/**', 'test/consumer/**'],
    globalSetup: ['test/global-setup.ts'],
    // RSA-2048 keys from a committed pool instead of generating each (test/support/rsa-key-pool.ts says why).
    setupFiles: ['test/support/rsa-key-pool.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Suites that start real registries and containerd bind their own loopback ports; two cores.
    maxWorkers: 2,
  },
});
