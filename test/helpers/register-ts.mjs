// `node --import ./test/helpers/register-ts.mjs app.ts` runs a TypeScript entry point.
import { register } from 'node:module';

register('./ts-loader.mjs', import.meta.url);
