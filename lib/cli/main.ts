#!/usr/bin/env node
// The `qtasks` command (package.json "bin"): runs one command, exits with its code.
import { once } from 'node:events';
import { runCli } from './run-cli.js';

process.exitCode = await runCli(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  interrupted: () => Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]).then(() => undefined),
});
