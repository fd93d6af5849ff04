#!/usr/bin/env node
// The `qtasks` command (package.json "bin"): runs one command, exits with its code.
import { once } from 'node:events';
import { runCli } from './run-cli.js';

// A reader that stops early (`qtasks tasks | head`) closes the pipe: the output ends there, as
// with any command-line tool, rather than with an unhandled EPIPE and its stack trace. The command
// still ends as it would have, so its exit code tells a script whether it failed.
let stdoutClosed = false;
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  stdoutClosed = true;
});

process.exitCode = await runCli(process.argv.slice(2), {
  out: (text) => {
    if (!stdoutClosed) process.stdout.write(text);
  },
  err: (text) => process.stderr.write(text),
  env: process.env,
  interrupted: () => Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]).then(() => undefined),
});
