import { defineConfig } from 'vitest/config';

/** The multi-host test bed (`npm run testbed`): one scenario file at a time, since they share the hosts. */
export default defineConfig({
  test: {
    include: ['test/multihost/**/*.testbed.ts'],
    pool: 'forks',
    fileParallelism: false,
    maxWorkers: 1,
    sequence: { concurrent: false },
    testTimeout: 300_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
