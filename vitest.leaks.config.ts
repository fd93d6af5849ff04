import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

// The testing module's own suite again, under vitest's leak detection: closing an app must leave
// no timer or socket behind (see test/helpers/handle-leaks.reporter.ts).
const config = mergeConfig(
  base,
  defineConfig({
    test: {
      detectAsyncLeaks: true,
      reporters: ['default', './test/helpers/handle-leaks.reporter.ts'],
    },
  }),
);
// mergeConfig concatenates lists; this run covers these files only.
config.test!.include = ['test/testing/**/*.test.ts'];
export default config;
