import { describe, expect, inject, it } from 'vitest';
import * as engine from '../../lib/engine.js';
import * as main from '../../lib/index.js';
import { raceTimeout } from '../../lib/core/timing.js';
import { startChildApp } from '../helpers/child-app.js';
import { uniqueAppName } from '../helpers/names.js';

/** What only the Nest layer and DTO validation need. */
const HEAVY_PACKAGES = /^(@nestjs\/.*|rxjs|class-validator|class-transformer)$/;

describe('the engine entry (nestjs-qtasks/engine)', () => {
  // The child compiles the sources as it starts: slow on a busy machine, hence the bounds.
  it('runs tasks in a process without Nest: it loads no Nest or rxjs, and class-validator only at the first DTO', { timeout: 90_000 }, async () => {
    const child = startChildApp('engine-only.ts', { REDIS_URL: inject('redisUrl'), APP_NAME: uniqueAppName('engine') });
    let exit: Awaited<typeof child.exited> | 'still running';
    try {
      exit = await raceTimeout(child.exited, 60_000, () => 'still running' as const);
    } finally {
      child.kill();
    }
    expect(exit, child.output()).toMatchObject({ code: 0 });
    const report = JSON.parse(child.output().trim().split('\n').at(-1)!) as Record<string, unknown>;
    const atImport = report.atImport as string[];
    const afterPlainTask = report.afterPlainTask as string[];
    expect(atImport).toContain('ioredis');
    expect(atImport.filter((name) => HEAVY_PACKAGES.test(name))).toEqual([]);
    expect(afterPlainTask.filter((name) => HEAVY_PACKAGES.test(name))).toEqual([]);
    expect(report.doubled).toBe(42);
    expect(report.afterDto).toContain('class-validator');
    expect(report.refused).toBe('Arguments of task "signup" are invalid: argument 1 (Signup).email: email must be an email.');
    expect(report.accepted).toBe('ann@example.com');
  });

  it('is the main entry without the Nest layer: every engine export is the same object in both', () => {
    for (const [name, value] of Object.entries(engine)) expect(main[name as keyof typeof main], name).toBe(value);
    expect(Object.keys(main)).toEqual(expect.arrayContaining(['QTasksModule', 'Task', 'QTasksClient', 'QTasksStarter']));
    expect(Object.keys(engine)).not.toContain('QTasksModule');
  });
});
