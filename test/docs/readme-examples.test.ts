// The README's TypeScript examples are checked, not trusted. Each ```ts block is a module of its
// own that must compile as is against the library, imported by its package name as a user does
// (`nestjs-qtasks`, `nestjs-qtasks/engine`, `nestjs-qtasks/testing`). A block whose first line is a
// comment naming a file (`// primes.ts: ...`) is that file, so other blocks import it (`./primes.js`).
// The quick starts also run against a real redis-server and must print what their comments say.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raceTimeout } from '../../lib/core/timing.js';
import { startChildApp, stopChild, type ChildApp } from '../helpers/child-app.js';
import {
  REPO_ROOT,
  announcedOutput,
  missingInOrder,
  readmeBlocks,
  runDirectory,
  typeCheckBlocks,
  usesReadmeRedis,
  writeRunnableBlocks,
  type ReadmeBlock,
} from '../helpers/readme-examples.js';
import { startRedisServer, type RedisServerHandle } from '../helpers/redis-server.js';

const blocks = readmeBlocks(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));

/** The examples a reader runs first; each is located by what it is, so an edit cannot drop it unnoticed. */
const RUNNABLE: { title: string; find: (block: ReadmeBlock) => boolean }[] = [
  { title: 'the Nest quick start (main.ts)', find: (block) => block.fileName === 'main.ts' },
  { title: 'the first engine-only example', find: (block) => block.source.includes("from 'nestjs-qtasks/engine'") },
];

/** A child compiles the library's sources as it starts: seconds, many more on a loaded machine. */
const RUN_LIMIT_MS = 45_000;

/** One compiler Program over the examples, the library and Nest's types: as slow to build. */
const TYPE_CHECK_LIMIT_MS = 60_000;

describe('the README examples', () => {
  let server: RedisServerHandle | undefined;
  let dir: string | undefined;
  const runs = new Map<string, ChildApp>();

  // The runnable examples start first: they run while the type check, which takes seconds, goes on.
  beforeAll(async () => {
    server = await startRedisServer();
    dir = runDirectory('readme-runs');
    writeRunnableBlocks(blocks, dir, server.url);
    for (const { title, find } of RUNNABLE) {
      const block = blocks.find(find);
      if (block && usesReadmeRedis(block)) runs.set(title, startChildApp(pathToFileURL(join(dir, block.fileName)), { NO_COLOR: '1' }));
    }
  });
  afterAll(async () => {
    await Promise.all([...runs.values()].map(stopChild));
    if (dir) rmSync(dir, { recursive: true, force: true });
    await server?.destroy();
  });

  it('are modules that compile against the library as they stand', { timeout: TYPE_CHECK_LIMIT_MS }, () => {
    expect(blocks.length).toBeGreaterThan(20);
    expect(typeCheckBlocks(blocks)).toEqual([]);
  });

  it.each(RUNNABLE)('$title runs against a real Redis, prints what its comments say and exits', { timeout: RUN_LIMIT_MS + 5_000 }, async ({ title, find }) => {
    const block = blocks.find(find);
    expect(block, 'the example is gone from the README').toBeDefined();
    const where = `README.md:${block!.line}`;
    expect(usesReadmeRedis(block!), `${where}: the example no longer uses redis://127.0.0.1:6379, which the run points at a test server`).toBe(true);
    const printed = announcedOutput(block!);
    expect(printed.length, `${where}: no console.log(...); line of the example says what it prints`).toBeGreaterThan(0);

    const child = runs.get(title)!;
    const exit = await raceTimeout(child.exited, RUN_LIMIT_MS, () => 'still running' as const);
    expect(exit, `${where} printed:\n${child.output()}`).toEqual({ code: 0, signal: null });
    const missing = missingInOrder(child.output(), printed);
    expect(missing, `${where}: what its comments say it prints is not in its output, in that order. It printed:\n${child.output()}`).toEqual([]);
  });
});
