// The README's examples of testing an app are vitest tests themselves: they run here, as tests of
// this file, on the library's sources (the package's imports pointed at lib/).
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, readmeBlocks, runDirectory, writeRunnableBlocks } from '../helpers/readme-examples.js';

const blocks = readmeBlocks(readFileSync(join(REPO_ROOT, 'README.md'), 'utf8'));
const vitestExamples = blocks.filter((block) => block.source.includes("from 'vitest'"));

const dir = runDirectory('readme-tests');
// No example here talks to Redis: an address nothing listens on makes sure of it.
writeRunnableBlocks(blocks, dir, 'redis://127.0.0.1:1');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('finds the README examples of testing an app: QTasksTestingModule, replacing the app\'s module, and fake timers', () => {
  expect(vitestExamples.map((block) => block.line)).toHaveLength(3);
});

for (const block of vitestExamples) {
  describe(`README.md:${block.line}`, async () => {
    await import(join(dir, block.fileName));
  });
}
