import { Injectable, type INestApplicationContext } from '@nestjs/common';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  InvalidOptionError,
  InvalidScheduleError,
  QTasksClient,
  QTasksTimer,
  Task,
  WaitTimeoutError,
  type QTasksLogger,
  type TickEvent,
} from '../../lib/index.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';
import { plainApps } from '../helpers/plain-app.js';

@Injectable()
class SlowService {
  gate = new Gate();

  @Task()
  async slow(label: string): Promise<string> {
    await this.gate.pass();
    return `done ${label}`;
  }

  @Task()
  quick(n: number): number {
    return n + 1;
  }
}

const quiet: QTasksLogger = { log: () => undefined, warn: console.warn, error: console.error };

describe('typed handles', () => {
  let app: INestApplicationContext;
  let client: QTasksClient;
  let service: SlowService;

  beforeAll(async () => {
    app = await startNestApp({ name: uniqueAppName('api-handles'), url: inject('redisUrl'), logger: quiet }, [SlowService]);
    client = app.get(QTasksClient);
    service = app.get(SlowService);
  });
  afterAll(async () => {
    service.gate.open();
    await app.close();
  });

  it('run() with returnOnTimeout rejects with WaitTimeoutError while the task still runs, not as a failed task', async () => {
    const slow = client.task(SlowService, 'slow').with({ timeout: 200, returnOnTimeout: true });
    const error: unknown = await slow.run('late').catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect((error as WaitTimeoutError).record?.status).toMatch(/^(new|process)$/);
    expect((error as WaitTimeoutError).message).toContain('did not finish within 200 ms');
    service.gate.open();
  });

  it('wait() and get() read back a run of the handle task, and refuse the uuid of another task', async () => {
    const quick = client.task(SlowService, 'quick');
    const added = await quick.add(1);
    const finished = await quick.wait(added.uuid, { timeout: 10_000 });
    expect(finished).toMatchObject({ uuid: added.uuid, status: 'success', returning: 2 });
    expect((await quick.get(added.uuid))?.returning).toBe(2);
    expect(await quick.get('no-such-uuid')).toBeNull();

    const other = await client.task(SlowService, 'slow').add('x');
    await expect(quick.get(other.uuid)).rejects.toThrow(InvalidOptionError);
    await expect(quick.wait(other.uuid, { timeout: 10_000 })).rejects.toThrow(`Task ${other.uuid} is a "slow" task, not "quick"`);
  });

  it('addBulk() and addOnce() enqueue the handle task, with the handle options unless an item or call gives its own', async () => {
    const quick = client.task(SlowService, 'quick').with({ priority: 7 });
    // An item's priority left undefined (an optional field passed on) is one it does not give.
    const records = await quick.addBulk([{ args: [10] }, { args: [20], priority: 3 }, { args: [40], priority: undefined }]);
    expect(records.map(({ taskName, args, priority }) => ({ taskName, args, priority }))).toEqual([
      { taskName: 'quick', args: [10], priority: 7 },
      { taskName: 'quick', args: [20], priority: 3 },
      { taskName: 'quick', args: [40], priority: 7 },
    ]);
    const finished = await Promise.all(records.map((record) => quick.wait(record.uuid, { timeout: 10_000 })));
    expect(finished.map((record) => record.returning)).toEqual([11, 21, 41]);

    const uniqueKey = `quick:${records[0]!.uuid}`;
    const first = await quick.addOnce([30], { uniqueKey, uniqueTtlMs: 60_000 });
    const second = await quick.addOnce([31], { uniqueKey, uniqueTtlMs: 60_000, priority: 1 });
    expect(second).toEqual({ uuid: first.uuid, added: false });
    expect(first.added).toBe(true);
    expect(await quick.wait(first.uuid, { timeout: 10_000 })).toMatchObject({ taskName: 'quick', priority: 7, args: [30], returning: 31 });

    await expect(quick.addBulk([null as never])).rejects.toThrow(InvalidOptionError);
    await expect(quick.addOnce([32], undefined as never)).rejects.toThrow('The options of addOnce of task "quick" must be an object, got undefined.');
  });
});

describe('timer listeners and schedules', () => {
  const apps = plainApps(inject('redisUrl'));
  afterAll(() => apps.stopAll());

  it('a throwing onTick listener is logged as such: the tick is enqueued and the other listeners hear it', async () => {
    const errors: string[] = [];
    const logger: QTasksLogger = { log: () => undefined, warn: () => undefined, error: (message) => errors.push(message) };
    let heardTick!: (event: TickEvent) => void;
    const heard = new Promise<TickEvent>((resolve) => (heardTick = resolve));
    let timer!: QTasksTimer;
    await apps.start(
      'api-timer',
      (app) => {
        app.task('beat', () => 'beat');
        timer = new QTasksTimer(app);
        timer.onTick(() => {
          throw new Error('listener bug');
        });
        timer.onTick(heardTick);
      },
      { logger },
    );
    await timer.add('beat', { every: 1000 });
    const event = await heard;
    expect(event).toMatchObject({ schedule: 'beat', added: true });
    const logged = errors.join('\n');
    expect(logged).not.toContain('could not enqueue');
    expect(logged).toContain(`an onTick listener threw at the tick of ${event.tick.toISOString()} of schedule "beat"`);
    expect(logged).toContain('listener bug');
    expect(() => timer.onTick('not a function' as never)).toThrow(InvalidOptionError);
  }, 10_000);

  it('a schedule without options is refused with InvalidScheduleError naming the task', async () => {
    const app = await apps.start('api-timer-options', (app) => app.task('beat', () => 'beat'));
    const timer = new QTasksTimer(app);
    await expect(timer.add('beat', null as never)).rejects.toThrow(InvalidScheduleError);
    await expect(timer.add('beat', null as never)).rejects.toThrow('Schedule "beat" (timer.add("beat")) is invalid: its options must be an object');
  });
});
