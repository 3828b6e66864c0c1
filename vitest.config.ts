// Test runner settings: tests run against the built bundles in dist/, which `npm test` builds first.
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // one test file per core (vitest's default leaves one core idle): most files wait on child processes, ptys and
    // engines under qemu, and CI's 2 cores must finish the whole run in under 20 minutes (.ci/run)
    maxWorkers: availableParallelism(),
    // the response scan of docs/security.md §5: records what every loopback device holds and says, checks it after each file
    setupFiles: ['./test/setup/secret-scan.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
