// The README's errors table is where a user looks up an error they caught: every error class the
// package's entry points export must have its row there.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import * as engine from '../../lib/engine.js';
import * as main from '../../lib/index.js';
import * as testing from '../../lib/testing/index.js';
import { REPO_ROOT } from '../helpers/readme-examples.js';

const { QTasksError } = engine;

/** Names of the classes in the first column of the README's errors table (`| \`Name\` | \`CODE\` |`). */
function documentedErrors(): string[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/^\| `(\w+)` \| `[A-Z_]+` \|/gm)].map(([, name]) => name!);
}

it('lists every exported error class in the README errors table', () => {
  const exported = Object.entries({ ...engine, ...main, ...testing })
    .filter(([, value]) => typeof value === 'function' && (value === QTasksError || value.prototype instanceof QTasksError))
    .map(([name]) => name);
  expect(exported.length).toBeGreaterThan(20);
  expect(exported.filter((name) => !documentedErrors().includes(name))).toEqual([]);
});
