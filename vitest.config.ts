import { defineConfig } from 'vitest/config';

// Two projects (design.md §9): fast in-process tests run in parallel; tests that start real
// node processes run one file at a time on ports picked free at run time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.ts', 'jepsen-lite/**/*.test.ts', 'test/unit/**/*.test.ts'],
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: 'real',
          include: ['test/real/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 300_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
