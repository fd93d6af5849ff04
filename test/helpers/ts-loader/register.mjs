// `node --import ./test/helpers/ts-loader/register.mjs some.ts` runs TypeScript (with decorator
// metadata, which Nest needs) in a plain Node process, outside vitest: fixtures for child processes.
import { register } from 'node:module';

register('./hooks.mjs', import.meta.url);
