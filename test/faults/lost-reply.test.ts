import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { QueueTasks } from '../../lib/index.js';
import { CuttableLink } from '../helpers/cuttable-link.js';
import { uniqueAppName } from '../helpers/names.js';

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

describe('a reply lost on the way back', () => {
  const redisUrl = inject('redisUrl');
  const reader = new Redis(redisUrl);
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers) await close();
    reader.disconnect();
  });

  it('an add whose reply never came is sent again after the reconnect, and its task is queued and stored once', async () => {
    const { hostname, port } = new URL(redisUrl);
    const link = await CuttableLink.open({ host: hostname, port: Number(port) });
    closers.push(async () => link.cut());
    const name = uniqueAppName('lost-reply');
    const app = new QueueTasks({ name, url: link.url, worker: false, whenRedisDown: 'wait', logger: quiet });
    app.task('note', (text: string) => text);
    await app.start();
    closers.push(() => app.stop());

    // Loads the script first: a dropped NOSCRIPT answer would mean the first call never ran.
    const earlier = await app.add('note', ['earlier']);
    const dropped = link.dropReplyTo('EVALSHA', `qtasks:{${name}}:qp`); // the enqueue script's first key
    const record = await app.add('note', ['once']);
    await dropped;
    // The client sent the enqueue again on its new connection; Redis had run the first one.
    expect(await reader.lrange(`qtasks:{${name}}:q:0`, 0, -1)).toEqual([earlier.uuid, record.uuid]);
    expect(await app.get(record.uuid)).toMatchObject({ status: 'new', args: ['once'] });
  });
});
