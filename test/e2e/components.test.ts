import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { InvalidOptionError, MemoryGlobalConfig, NotSerializableError, QueueTasks, RedisGlobalConfig, shownValue } from '../../lib/index.js';
import { uniqueAppName } from '../helpers/names.js';
import { assertRedisInstalled } from '../helpers/redis-server.js';

describe('components without Nest', () => {
  const url = inject('redisUrl');
  const redis = new Redis(url);
  afterAll(async () => redis.quit());

  it('uses a client the app passes in, and leaves it open at stop', async () => {
    const own = new Redis(url);
    const qtasks = new QueueTasks({ name: uniqueAppName('client'), client: own });
    qtasks.task('double', async (n: number) => n * 2);
    await qtasks.start();
    expect((await qtasks.run('double', [21], { timeout: 15_000 })).returning).toBe(42);
    await qtasks.stop();
    expect(await own.ping()).toBe('PONG');
    await own.quit();
  });

  it('stopWork lets the running task finish and claims nothing more, while enqueueing still works', async () => {
    const qtasks = new QueueTasks({ name: uniqueAppName('stop-work'), url, config: { shutdownGraceMs: 5000 } });
    let release!: () => void;
    const started = new Promise<void>((resolve) => {
      qtasks.task('hold', () => {
        resolve();
        return new Promise<string>((done) => (release = () => done('finished')));
      });
    });
    await qtasks.start();
    const running = await qtasks.add('hold');
    await started;
    const stopping = qtasks.stopWork();
    setTimeout(() => release(), 100);
    await stopping;
    expect((await qtasks.get(running.uuid))?.status).toBe('success');
    const late = await qtasks.add('hold');
    expect((await qtasks.wait(late.uuid, { timeout: 300, returnOnTimeout: true })).status).toBe('new');
    await qtasks.stop();
  });

  it('GlobalConfig stores settings readable by another process with no app running', async () => {
    const name = uniqueAppName('settings');
    const writer = new RedisGlobalConfig({ name, url });
    await writer.start();
    await writer.set('maintenance', { until: '2026-12-01' });
    await writer.set('limit', 5);
    await writer.stop();
    const reader = new RedisGlobalConfig({ name, url });
    await reader.start();
    try {
      expect(await reader.get('limit')).toBe(5);
      expect(await reader.get('missing')).toBeUndefined();
      expect(await reader.getAll()).toEqual({ maintenance: { until: '2026-12-01' }, limit: 5 });
      expect(await redis.exists(`qtasks:{${name}}:gc`)).toBe(1);
    } finally {
      await reader.stop();
    }
  });

  it('GlobalConfig refuses a setting JSON would not give back, naming the key and the path, and a key that is no non-empty string, on both backends', async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const refused: [unknown, string][] = [
      [undefined, '$ is undefined'],
      [() => 1, '$ is a function'],
      [10n, '$ is a BigInt'],
      [NaN, '$ is NaN'],
      [new Map([[1, 2]]), '$ is a Map, which JSON turns into {}'],
      [{ at: { every: [1, circular] } }, '$.at.every[1].self is a circular reference'],
    ];
    const redisConfig = new RedisGlobalConfig({ name: uniqueAppName('settings-refused'), url });
    await redisConfig.start();
    try {
      for (const globalConfig of [redisConfig, new MemoryGlobalConfig()]) {
        await globalConfig.set('kept', 1);
        for (const [value, problem] of refused) {
          const error = await globalConfig.set('kept', value).catch((e: unknown) => e);
          expect(error).toBeInstanceOf(NotSerializableError);
          expect((error as Error).message).toBe(`GlobalConfig setting "kept" cannot be stored as JSON: ${problem}.`);
        }
        expect(await globalConfig.getAll()).toEqual({ kept: 1 });
        for (const key of [undefined, '', {}, 123]) {
          const error = await globalConfig.set(key as never, 'lost').catch((e: unknown) => e);
          expect(error).toBeInstanceOf(InvalidOptionError);
          expect((error as Error).message).toBe(`A GlobalConfig setting's key must be a non-empty string, got ${shownValue(key)}.`);
          await expect(globalConfig.get(key as never)).rejects.toThrow(InvalidOptionError);
        }
        expect(await globalConfig.getAll()).toEqual({ kept: 1 });
        await globalConfig.set('when', new Date(0)); // a value whose toJSON gives JSON is stored as that
        expect(await globalConfig.get('when')).toBe('1970-01-01T00:00:00.000Z');
      }
    } finally {
      await redisConfig.stop();
    }
  });

  it('keys of one app share one hash tag', async () => {
    const name = uniqueAppName('tag');
    const qtasks = new QueueTasks({ name, url });
    qtasks.task('noop', async () => null);
    await qtasks.start();
    await qtasks.run('noop', [], { timeout: 15_000 });
    await qtasks.stop();
    const keys = await redis.keys(`*${name}*`);
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.every((key) => key.startsWith(`qtasks:{${name}}:`))).toBe(true);
  });

  it('refuses priorities outside the supported range, naming the task', async () => {
    const qtasks = new QueueTasks({ name: uniqueAppName('prio'), url, worker: false });
    qtasks.task('noop', async () => null);
    await expect(qtasks.add('noop', [], { priority: 1.5 })).rejects.toThrow(/priority of task "noop" must be an integer/);
    await expect(qtasks.add('noop', [], { delay: -1 })).rejects.toThrow(/delay of task "noop"/);
  });

  it('the test setup names the package to install when redis-server is missing', () => {
    expect(() => assertRedisInstalled('redis-server-not-installed')).toThrow(/apt-get install -y redis-server/);
  });
});
