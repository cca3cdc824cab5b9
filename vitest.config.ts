import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 30_000,
    // Every core, and at least two files at once: many files spend their time waiting on child processes
    // (the crash tests' coordinators) and databases (PostgreSQL clusters), not computing. On this 2-core
    // machine that took the unit tests from about 120 s (one file at a time) to about 80 s.
    maxWorkers: Math.max(2, availableParallelism()),
  },
});
