import { describe, expect, it } from 'vitest';
import {
  InvalidOptionError,
  MemoryBroker,
  MemoryGlobalConfig,
  MemoryStorage,
  QueueTasks,
  RedisBroker,
  type QTasksBackend,
} from '../../lib/index.js';

describe('choosing the backend', () => {
  it("backend 'memory' builds the memory components, with no URL", () => {
    const app = new QueueTasks({ backend: 'memory' });
    expect(app.broker).toBeInstanceOf(MemoryBroker);
    expect(app.storage).toBeInstanceOf(MemoryStorage);
    expect(app.globalConfig).toBeInstanceOf(MemoryGlobalConfig);
    expect(new QueueTasks({ backend: 'memory', globalConfig: null }).globalConfig).toBeNull();
  });

  it('a MemoryStorage given alone gets a MemoryBroker over it', () => {
    const storage = new MemoryStorage({ globalConfig: new MemoryGlobalConfig() });
    const app = new QueueTasks({ storage });
    expect(app.broker).toBeInstanceOf(MemoryBroker);
    expect(app.storage).toBe(storage);
    expect(app.globalConfig).toBe(storage.globalConfig);
  });

  it('redis stays the default', () => {
    expect(new QueueTasks({ url: 'redis://127.0.0.1:1' }).broker).toBeInstanceOf(RedisBroker);
  });

  it('refuses an unknown backend and Redis settings with the memory backend', () => {
    expect(() => new QueueTasks({ backend: 'mongo' as QTasksBackend })).toThrow(InvalidOptionError);
    expect(() => new QueueTasks({ backend: 'mongo' as QTasksBackend })).toThrow(/backend must be one of "redis", "memory", got "mongo"/);
    expect(() => new QueueTasks({ backend: 'memory', url: 'redis://127.0.0.1:6379' })).toThrow(
      /backend "memory" uses no Redis, but url was given/,
    );
    expect(() => new QueueTasks({ backend: 'memory', cluster: { nodes: [{ host: '127.0.0.1', port: 7000 }] } })).toThrow(
      /backend "memory" uses no Redis, but cluster was given/,
    );
  });
});
