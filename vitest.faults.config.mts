import { defineConfig } from 'vitest/config';

/** `npm run test:faults`: the kill and concurrency trials (many processes), apart from the fast `npm test`. */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
    testTimeout: 1_800_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
  },
});
