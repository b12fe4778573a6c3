import { defineConfig } from 'vitest/config';

/** `npm run bench`: the benchmarks, out of `npm test`. One file at a time: they measure. */
export default defineConfig({
  test: {
    include: ['bench/**/*.bench.ts'],
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 1_800_000,
    hookTimeout: 600_000,
  },
});
