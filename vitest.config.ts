// Test runner settings: tests run against the built bundles in dist/, which `npm test` builds first.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // the response scan of docs/security.md §5: records what every loopback device holds and says, checks it after each file
    setupFiles: ['./test/setup/secret-scan.ts'],
    reporters: ['default', './test/summary-reporter.ts'],
  },
});
