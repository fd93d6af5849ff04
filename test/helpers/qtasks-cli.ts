import { inject } from 'vitest';
import { runCli } from '../../lib/cli/run-cli.js';

/**
 * Runs one CLI command in this process and collects what it prints; the URL comes from `--url`,
 * else the test Redis. (`web` is run as a real process: see test/fixtures/qtasks-cli.ts.)
 */
export async function qtasks(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(argv, {
    out: (text) => (out += text),
    err: (text) => (err += text),
    env: { QTASKS_REDIS_URL: inject('redisUrl') },
    interrupted: () => Promise.resolve(),
  });
  return { code, out, err };
}
