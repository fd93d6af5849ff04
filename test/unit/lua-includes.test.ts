import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SCRIPT_NAMES, scriptSource } from '../../lib/redis/scripts.js';

// A helper a script calls but does not include is a nil global in Redis: the script fails only when
// that path runs. This checks every script's expanded source statically.
const includesDir = join(import.meta.dirname, '../../lib/redis/lua/includes');
const helpers = readdirSync(includesDir).flatMap((file) =>
  [...readFileSync(join(includesDir, file), 'utf8').matchAll(/^local function (\w+)/gm)].map((match) => match[1]!),
);

describe('Lua scripts as the loader expands them', () => {
  it('knows the shared helpers', () => {
    expect(helpers).toEqual(expect.arrayContaining(['nowMs', 'encodeRecord', 'pushQueued', 'dropBatches', 'finish', 'storeOutcomes']));
  });

  for (const name of SCRIPT_NAMES) {
    it(`${name}: every helper it calls is defined once, before its first call; no include is left over`, () => {
      const source = scriptSource(name);
      expect(source).not.toMatch(/^--@include/m);
      for (const helper of helpers) {
        const definitions = source.match(new RegExp(`^local function ${helper}\\(`, 'gm')) ?? [];
        expect(definitions.length, `${helper} defined ${definitions.length} times`).toBeLessThanOrEqual(1);
        const firstCall = source.search(new RegExp(`(?<!function )\\b${helper}\\(`));
        if (firstCall === -1) continue;
        const defined = source.search(new RegExp(`^local function ${helper}\\(`, 'm'));
        expect(defined, `${name} calls ${helper} without defining it first`).toBeGreaterThanOrEqual(0);
        expect(defined).toBeLessThan(firstCall);
      }
    });
  }

  it('enqueue, the most frequent script, defines only the helpers it calls', () => {
    // Every function a script defines costs Redis time on each call: none here may go unused.
    const source = scriptSource('enqueue');
    const defined = [...source.matchAll(/^local function (\w+)/gm)].map((match) => match[1]!);
    expect(defined).toContain('pushQueued');
    const uncalled = defined.filter((helper) => source.search(new RegExp(`(?<!function )\\b${helper}\\(`)) === -1);
    expect(uncalled).toEqual([]);
  });
});
