import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { ScriptLane } from '../lib/redis/script-lane.js';

/**
 * Counters read before and after a measured window: Redis CPU and commands (INFO, all clients),
 * this process's CPU, and the commands this process's clients sent (its round trips).
 */
export interface Counters {
  redisCpuUs: number;
  redisCommands: number;
  clientCommands: number;
  nodeCpuUs: number;
}

export interface WindowCost {
  /** Redis CPU per task, µs. */
  redisUs: number;
  /** Node CPU of the measuring process per task, µs. */
  nodeUs: number;
  /** Commands Redis executed per task, including those run inside Lua scripts (INFO commandstats). */
  commands: number;
  /**
   * Commands the library's clients sent per task. Not round trips: a pipeline (BullMQ's addBulk)
   * sends many commands in one.
   */
  commandsSent: number;
}

let sentByLibraries = 0;
const uncounted = new WeakSet<object>();

/**
 * Counts every command sent by any ioredis client of this process except the probe's own, and by
 * our adds' own connection (ScriptLane), which is no ioredis client.
 */
export function countClientCommands(): void {
  const original = Redis.prototype.sendCommand;
  Redis.prototype.sendCommand = function (this: Redis, ...args: Parameters<Redis['sendCommand']>) {
    if (!uncounted.has(this)) sentByLibraries++;
    return original.apply(this, args);
  } as Redis['sendCommand'];
  const lane = ScriptLane.prototype as unknown as { send: (...args: unknown[]) => void };
  const laneSend = lane.send;
  lane.send = function (this: ScriptLane, ...args: unknown[]) {
    sentByLibraries++;
    laneSend.apply(this, args);
  };
}

export class RedisProbe {
  readonly admin: Redis;
  /** Non-INFO commands the probe sent itself (progress polls), subtracted from Redis's count. */
  private ownCommands = 0;

  constructor(url: string) {
    this.admin = new Redis(url);
    uncounted.add(this.admin);
  }

  async counters(): Promise<Counters> {
    const [cpu, stats] = await Promise.all([this.admin.info('cpu'), this.admin.info('commandstats')]);
    const cpuSeconds = field(cpu, 'used_cpu_user') + field(cpu, 'used_cpu_sys');
    let commands = 0;
    for (const match of stats.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
      if (match[1] !== 'info') commands += Number(match[2]);
    }
    const node = process.cpuUsage();
    return {
      redisCpuUs: cpuSeconds * 1e6,
      redisCommands: commands - this.ownCommands,
      clientCommands: sentByLibraries,
      nodeCpuUs: node.user + node.system,
    };
  }

  cost(before: Counters, after: Counters, tasks: number): WindowCost {
    return {
      redisUs: (after.redisCpuUs - before.redisCpuUs) / tasks,
      nodeUs: (after.nodeCpuUs - before.nodeCpuUs) / tasks,
      commands: (after.redisCommands - before.redisCommands) / tasks,
      commandsSent: (after.clientCommands - before.clientCommands) / tasks,
    };
  }

  /** Runs one polling command, remembered so it is not charged to the library. */
  async poll<T>(command: (admin: Redis) => Promise<T>): Promise<T> {
    this.ownCommands++;
    return command(this.admin);
  }

  /**
   * µs per bare round trip: a one-line script (EVALSHA of `return 1`) sent and awaited `count` times
   * in a row, the least an enqueue that waits for Redis can take on this machine.
   */
  async roundTripUs(count: number): Promise<number> {
    const sha = (await this.admin.script('LOAD', 'return 1')) as string;
    const startedAt = performance.now();
    for (let i = 0; i < count; i++) await this.admin.evalsha(sha, 0);
    this.ownCommands += count + 1;
    return ((performance.now() - startedAt) * 1000) / count;
  }

  /**
   * µs per awaited call of the least script an add that keeps its task can run: SET NX of `record`
   * under a new key, then RPUSH of the key's id to a list (no status, no wake-up, no client-side
   * work). How fast an add that stores a record and queues it in one round trip can be here, whatever
   * the library; its keys are deleted after.
   */
  async storeAndQueueUs(count: number, record: string): Promise<number> {
    const sha = (await this.admin.script('LOAD', STORE_AND_QUEUE)) as string;
    const [keyPrefix, list] = ['probe:{floor}:t:', 'probe:{floor}:q'];
    const startedAt = performance.now();
    for (let i = 0; i < count; i++) {
      const id = randomUUID();
      await this.admin.evalsha(sha, 2, keyPrefix + id, list, record, id);
    }
    const us = ((performance.now() - startedAt) * 1000) / count;
    const ids = await this.admin.lrange(list, 0, -1);
    for (let at = 0; at < ids.length; at += 1000) await this.admin.unlink(...ids.slice(at, at + 1000).map((id) => keyPrefix + id));
    await this.admin.unlink(list);
    this.ownCommands += count + 3 + Math.ceil(ids.length / 1000);
    return us;
  }

  async usedMemory(): Promise<number> {
    return field(await this.admin.info('memory'), 'used_memory');
  }

  close(): void {
    this.admin.disconnect();
  }
}

const STORE_AND_QUEUE = "if redis.call('SET', KEYS[1], ARGV[1], 'NX') then redis.call('RPUSH', KEYS[2], ARGV[2]) end return 1";

function field(info: string, name: string): number {
  const match = new RegExp(`^${name}:([\\d.]+)`, 'm').exec(info);
  if (!match) throw new Error(`INFO has no ${name}`);
  return Number(match[1]);
}
