import { Injectable, Module, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { describe, expect, inject, it } from 'vitest';
import { QTasksModule, QTasksRootHooks, QueueTasks, Task } from '../../lib/index.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';

/** A resource another module opens in its bootstrap hook and closes in its destroy hook. */
@Injectable()
class Database implements OnApplicationBootstrap, OnModuleDestroy {
  open = false;
  onApplicationBootstrap(): void {
    this.open = true;
  }
  onModuleDestroy(): void {
    this.open = false;
  }
}

@Module({ providers: [Database], exports: [Database] })
class DatabaseModule {}

/** Whether the database was open when the task started, and when it ended. */
const seen: boolean[] = [];
const gate = new Gate();

@Injectable()
class ReportService {
  constructor(private readonly db: Database) {}

  @Task()
  async report(): Promise<void> {
    seen.push(this.db.open);
    await gate.pass();
    seen.push(this.db.open);
  }
}

describe('QTasksRootHooks in the root module', () => {
  it('runs tasks only while the whole app is up: after every bootstrap hook, and done before any destroy hook', async () => {
    const url = inject('redisUrl');
    const name = uniqueAppName('root-hooks');
    // Queued before the app boots: its worker claims it the moment the work starts.
    const producer = new QueueTasks({ name, url, worker: false, logger: { log: () => undefined, warn: console.warn, error: console.error } });
    producer.task('report', () => undefined);
    await producer.start();
    const { uuid } = await producer.add('report');

    @Module({ imports: [QTasksModule.forRoot({ name, url }), DatabaseModule], providers: [ReportService, QTasksRootHooks] })
    class AppModule {}
    const app = await NestFactory.createApplicationContext(AppModule, { logger: false });
    try {
      await gate.reached;
      const closing = app.close();
      // The work ends first: the task still runs, and the database is still open, while Nest closes.
      await new Promise((resolve) => setTimeout(resolve, 200));
      gate.open();
      await closing;
      expect(seen).toEqual([true, true]);
      expect(app.get(Database).open).toBe(false);
      expect(await producer.get(uuid)).toMatchObject({ status: 'success' });
    } finally {
      gate.open();
      await producer.stop();
    }
  });
});

describe('an engine app started without its work', () => {
  it('enqueues and reads at once, runs nothing until startWork, and fires its start triggers then', async () => {
    const heard: string[] = [];
    const app = new QueueTasks({ name: uniqueAppName('work-later'), url: inject('redisUrl'), logger: { log: () => undefined, warn: console.warn, error: console.error } });
    app.task('job', () => 'done');
    app.addPlugin({ name: 'Listener', handlers: { worker_start: () => void heard.push('worker_start'), starter_start: () => void heard.push('starter_start') } });
    await app.start({ work: false });
    try {
      const { uuid } = await app.add('job');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await app.get(uuid))!.status).toBe('new');
      expect(heard).toEqual([]);
      await app.startWork();
      expect(heard).toEqual(['worker_start', 'starter_start']);
      expect(await app.wait(uuid, { timeout: 15_000 })).toMatchObject({ status: 'success', returning: 'done' });
    } finally {
      await app.stop();
    }
  });

  it('undoes a start of the work that failed: nothing runs, and it can be started again', async () => {
    let refuse = true;
    const app = new QueueTasks({ name: uniqueAppName('work-failed'), url: inject('redisUrl'), logger: { log: () => undefined, warn: () => undefined, error: () => undefined } });
    app.task('job', () => 'done');
    app.addPlugin({
      name: 'Gatekeeper',
      handlers: {
        starter_start: () => {
          if (refuse) throw new Error('not yet');
        },
      },
    });
    await app.start({ work: false });
    try {
      await expect(app.startWork()).rejects.toThrow(/not yet/);
      const { uuid } = await app.add('job');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect((await app.get(uuid))!.status).toBe('new');
      refuse = false;
      await app.startWork();
      expect(await app.wait(uuid, { timeout: 15_000 })).toMatchObject({ status: 'success' });
    } finally {
      await app.stop();
    }
  });
});

