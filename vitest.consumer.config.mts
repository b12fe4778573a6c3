import { defineConfig } from 'vitest/config';

/**
 * `npm run test:consumer`: the package as another cdk8s app gets it. Packs it, installs the tarball into fresh
 * apps in a temp directory (npm's cache keeps a second run fast) and compiles, runs and tests them there.
 */
export default defineConfig({
  test: {
    include: ['test/consumer/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts', 'test/consumer/pack.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    maxWorkers: 2,
  },
});
