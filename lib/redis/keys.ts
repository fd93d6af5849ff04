import { InvalidOptionError } from '../core/errors.js';

/** Refuses a name that cannot be an app's hash tag (see RedisKeys). */
export function assertAppName(appName: string): void {
  if (!appName || /[{}]/.test(appName)) {
    throw new InvalidOptionError(`App name "${appName}" must be non-empty and contain no braces.`);
  }
}

/** Slots of a Redis Cluster: a key's slot is the CRC16 of its hash tag modulo this. */
const CLUSTER_SLOTS = 16384;

/**
 * The Redis Cluster slot of the keys tagged `{hashTag}`: the CRC16 (XMODEM: polynomial 0x1021,
 * start 0) of the tag's UTF-8 bytes, as Redis computes it. Readers that must find the node holding
 * an app's keys (a SCAN) need it: ioredis routes commands by key, not by node.
 */
export function clusterSlot(hashTag: string): number {
  let crc = 0;
  for (const byte of Buffer.from(hashTag, 'utf8')) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % CLUSTER_SLOTS;
}

/**
 * Key names of one app. All share the hash tag `{name}`, so they live in one Redis Cluster slot
 * and every multi-key script stays legal on a cluster.
 */
export class RedisKeys {
  readonly prefix: string;
  readonly priorities: string;
  readonly delayed: string;
  readonly marker: string;
  readonly active: string;
  readonly waiting: string;
  readonly doneChannel: string;
  readonly cancelChannel: string;
  readonly settings: string;
  readonly catalog: string;
  readonly workers: string;
  readonly workerInfo: string;
  readonly schedules: string;
  /** Tasks that reached each final status, ever (hash status -> count; see notify in finish.lua). */
  readonly finishedCounts: string;
  /** Names with a scheduled waiting line, by when it is due: its rate-limit window's close, or 0/now (see waiting-lines.lua). */
  readonly waitingLineReopens: string;
  /** Paused task names, and '' while the whole queue is paused (see pause.lua). */
  readonly pauses: string;
  /** Tasks with maxRunning: how many of each name hold a running slot (see running-slots.lua). */
  readonly runningCounts: string;
  /** The Redis Cluster slot of every key above. */
  readonly slot: number;

  constructor(readonly appName: string) {
    assertAppName(appName);
    this.prefix = `qtasks:{${appName}}:`;
    this.priorities = `${this.prefix}qp`;
    this.delayed = `${this.prefix}d`;
    this.marker = `${this.prefix}m`;
    this.active = `${this.prefix}a`;
    /** Set while any client waits for a task of this app (see watch.lua). */
    this.waiting = `${this.prefix}wa`;
    this.doneChannel = `${this.prefix}done`;
    this.cancelChannel = `${this.prefix}cancel`;
    this.settings = `${this.prefix}gc`;
    this.catalog = `${this.prefix}catalog`;
    this.workers = `${this.prefix}workers`;
    this.workerInfo = `${this.prefix}wi`;
    this.schedules = `${this.prefix}tm`;
    this.finishedCounts = `${this.prefix}st`;
    this.waitingLineReopens = `${this.prefix}rw`;
    this.pauses = `${this.prefix}ps`;
    this.runningCounts = `${this.prefix}rc`;
    this.slot = clusterSlot(appName);
  }

  record(uuid: string): string {
    return `${this.prefix}t:${uuid}`;
  }

  /** Uuids of finished tasks of one status by finish time, kept only with config.keepFinishedTasks. */
  finished(status: string): string {
    return `${this.prefix}f:${status}`;
  }

  /** Run state of one timer schedule (hash: last tick, its task, next run). */
  scheduleRun(name: string): string {
    return `${this.prefix}tr:${name}`;
  }

  /** One broker's own wake-up list, which it waits on beside the shared marker (see lua/end-wait.lua). */
  ownWakeUp(brokerId: string): string {
    return `${this.prefix}mw:${brokerId}`;
  }

  /** A priority's queue list (see lua/includes/queue.lua). */
  queue(priority: string | number): string {
    return `${this.prefix}q:${priority}`;
  }

  /** Uuids of the tasks of one claimed batch (see lua/includes/leases.lua). */
  batch(id: string): string {
    return `${this.prefix}lb:${id}`;
  }

  /** The uuids of one task's tasks held back (by its rate limit or a pause), in order. */
  waitingLine(taskName: string): string {
    return `${this.prefix}rp:${taskName}`;
  }

  waiter(uuid: string): string {
    return `${this.prefix}w:${uuid}`;
  }
}
