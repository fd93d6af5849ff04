import { Cluster } from 'ioredis';
import type { WorkerStatus } from '../configs/global-config.js';
import { RedisGlobalConfig } from '../configs/redis/redis-global-config.js';
import { InvalidOptionError, MalformedKeyError } from '../core/errors.js';
import type { ScheduleState } from '../core/schedule.js';
import { RUNNING_SLOT_WAIT } from '../core/running-limit.js';
import { FINAL_STATUSES, type TaskRecord, type TaskStatus } from '../core/task-record.js';
import type { TaskCatalogEntry } from '../core/task-registry.js';
import { RedisConnection, type RedisClient, type RedisConnectionOptions } from '../redis/connection.js';
import { RedisKeys } from '../redis/keys.js';
import { mistypedKey, queueKeyTypes } from '../redis/key-types.js';
import { getRecordText, isWrongTypeError, wrongTypeReason } from '../redis/record-text.js';
import { decodeRecord, readRecordHead, RECORD_HEAD_BYTES, type RecordHead } from '../storages/record-codec.js';

/** Where a task stands, as the dashboard and the CLI list tasks. */
export const TASK_STATES = ['queued', 'delayed', 'running', 'success', 'error', 'cancel'] as const;
export type TaskState = (typeof TASK_STATES)[number];

export interface QueueOverview {
  app: string;
  /** Tasks per state: queue entries, delayed tasks, tasks held by workers, and finished totals ever. */
  counts: Record<TaskState, number>;
  /** Queue entries per priority, lowest (first to run) first. */
  queues: { priority: number; queued: number }[];
  /** True while the whole queue is paused (no task starts). */
  paused: boolean;
  /** Tasks paused one by one. */
  pausedTasks: string[];
  /**
   * Queued tasks held back (counted in `queued`), by task: while their task is `paused`, until
   * their rate-limit window reopens at `reopensAt`, or while `waitsForSlot`, until one of the
   * `running` tasks of their name (its maxRunning reached) ends; with none of these, the next
   * claim starts them.
   */
  waitingLines: { task: string; waiting: number; paused: boolean; reopensAt: Date | null; waitsForSlot: boolean; running: number }[];
  /** Live workers (heartbeats), each `running` counted from the tasks it holds now. */
  workers: WorkerStatus[];
  catalog: TaskCatalogEntry[];
  schedules: ScheduleState[];
  settings: Record<string, unknown>;
  /**
   * GlobalConfig keys holding another Redis type than the app keeps there (written by hand or by
   * another tool), with why: the part each holds (workers, catalogue, schedules or settings) is
   * shown empty, a schedule whose run-state key it is without its run state, the rest as usual.
   */
  unreadable: { key: string; type: string; expected: string }[];
}

/**
 * What a task list shows of a task. The whole record (arguments, result, progress, tracebacks,
 * each up to maxPayloadBytes) comes from `task(uuid)`, one task at a time.
 */
export type TaskSummary = Pick<
  TaskRecord,
  'uuid' | 'taskName' | 'status' | 'priority' | 'attempt' | 'stalls' | 'createdAt' | 'updatedAt' | 'startedAt' | 'finishedAt' | 'runAt' | 'worker'
>;

export interface TaskList {
  state: TaskState;
  tasks: TaskSummary[];
  /** Records that could not be read as tasks, shown rather than hidden. */
  malformed: { uuid: string; reason: string }[];
  /**
   * False when finished tasks were found by scanning stored records (no current
   * `keepFinishedTasks` index) and the scan stopped at its budget: the list is then a sample, not
   * the newest.
   */
  complete: boolean;
  /** Position of this page's first entry in the state's order. */
  offset: number;
  /**
   * Where the next page starts, or null when this page reaches the end. Entries are counted as
   * stored: a page may show fewer tasks than asked when some left their state meanwhile.
   */
  nextOffset: number | null;
  /**
   * For finished tasks found by scanning stored records: when that scan ran. The dashboard reuses
   * a scan for SCAN_REUSE_MS (15 s), so a task finished since may show only at the next one.
   */
  scannedAt?: Date;
}

export interface InspectorOptions extends RedisConnectionOptions {
  /** App name, as given to QueueTasks / QTasksModule. */
  name: string;
  /** A connection shared with other components (not closed by the inspector). */
  connection?: RedisConnection;
}

/** Most tasks one list asks for, in the dashboard's API and the CLI: a page to look at, not a dump of the queue. */
export const MAX_LIST_LIMIT = 1000;

/** Keys a scan may look at before it gives up: a dashboard call must stay cheap on a big Redis. */
const SCAN_BUDGET = 50_000;
/** How long a scan of the records (finished tasks with no current index) is reused by later lists. */
export const SCAN_REUSE_MS = 15_000;
const SCAN_COUNT = 1_000;
/**
 * Records read in full per MGET. Each may hold up to maxPayloadBytes of arguments and as much
 * result, and only their summaries are kept: a small chunk bounds what is held at once.
 */
const READ_CHUNK = 100;
/** A record head GETRANGE could not read: the key holds another Redis type than a string. */
const OTHER_TYPE = Symbol('another Redis type');

/** What a scan of the stored records found: finished uuids by status, newest first, and the records it could not read. */
interface ScannedRecords {
  at: number;
  finished: Map<string, string[]>;
  malformed: TaskList['malformed'];
  complete: boolean;
}

/**
 * A read-only view of one app's queue, straight from Redis with no app running: what the
 * dashboard (WebView) and the `qtasks` CLI show. It reads the keys the engine writes
 * (lua/includes/queue.lua, leases.lua, finish.lua) and GlobalConfig; it never changes a task.
 */
export class QueueInspector {
  readonly keys: RedisKeys;
  readonly connection: RedisConnection;
  private readonly ownsConnection: boolean;
  private readonly globalConfig: RedisGlobalConfig;
  private lastScan?: { at: number; scanned: Promise<ScannedRecords> };

  constructor(options: InspectorOptions) {
    this.keys = new RedisKeys(options.name);
    this.ownsConnection = !options.connection;
    // A dashboard or a CLI call should say at once that Redis is down, not hang.
    this.connection = options.connection ?? new RedisConnection({ ...options, whenRedisDown: options.whenRedisDown ?? 'fail' });
    this.globalConfig = new RedisGlobalConfig({ name: options.name, connection: this.connection });
  }

  private get client(): RedisClient {
    return this.connection.client;
  }

  async start(): Promise<void> {
    await this.connection.connect();
  }

  async stop(): Promise<void> {
    if (this.ownsConnection) await this.connection.close();
  }

  /**
   * Counts, queues, pauses, workers, catalogue, schedules and settings. A GlobalConfig key of another
   * Redis type is listed in `unreadable`, its part shown empty; any other key of another type throws
   * MalformedKeyError.
   */
  overview(): Promise<QueueOverview> {
    return this.namingMistypedKeys(() => this.readOverview());
  }

  private async readOverview(): Promise<QueueOverview> {
    const unreadable: QueueOverview['unreadable'] = [];
    const report = ({ key, type, expected }: MalformedKeyError) => void unreadable.push({ key, type, expected });
    // One malformed GlobalConfig key must not hide the rest of the queue.
    const orEmpty = <T>(read: Promise<T>, empty: T): Promise<T> =>
      read.catch((error: unknown) => {
        if (!(error instanceof MalformedKeyError)) throw error;
        report(error);
        return empty;
      });
    const readSchedules = this.globalConfig.readableSchedules().then(({ schedules, unreadable: runs }) => {
      runs.forEach(report);
      return schedules;
    });
    const [queues, { paused, pausedTasks, waitingLines }, delayed, { tasks: running }, finished, heartbeats, catalog, schedules, settings] = await Promise.all([
      this.queueLengths(),
      this.waitingLines(),
      this.client.zcard(this.keys.delayed),
      this.runningTasks(),
      this.client.hgetall(this.keys.finishedCounts),
      orEmpty(this.globalConfig.workers(), []),
      orEmpty(this.globalConfig.catalog(), []),
      orEmpty(readSchedules, []),
      orEmpty(this.globalConfig.getAll(), {}),
    ]);
    const counts: Record<TaskState, number> = {
      queued: [...queues.map(({ queued }) => queued), ...waitingLines.map(({ waiting }) => waiting)].reduce((sum, n) => sum + n, 0),
      delayed,
      running: running.length,
      success: this.finishedTotal('success', finished.success),
      error: this.finishedTotal('error', finished.error),
      cancel: this.finishedTotal('cancel', finished.cancel),
    };
    // What each worker holds now, from the leases: its heartbeat's count may be seconds old.
    const held = new Map<string, number>();
    for (const { worker } of running) if (worker) held.set(worker, (held.get(worker) ?? 0) + 1);
    const workers = heartbeats.map((status) => ({ ...status, running: held.get(status.id) ?? 0 }));
    unreadable.sort((a, b) => a.key.localeCompare(b.key));
    return { app: this.keys.appName, counts, queues, paused, pausedTasks, waitingLines, workers, catalog, schedules, settings, unreadable };
  }

  /**
   * One page of the tasks in one state: up to `limit` from position `offset` of the state's order
   * (queued ones in the order they will run, delayed ones by due time, running ones by lease,
   * finished ones newest first); `nextOffset` is where the next page starts.
   */
  async tasks(state: TaskState, limit = 50, offset = 0): Promise<TaskList> {
    assertTaskState(state);
    if (!Number.isInteger(limit) || limit < 1) throw new InvalidOptionError(`limit must be a whole number above 0, got ${limit}.`);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new InvalidOptionError(`offset must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, got ${offset}.`);
    return this.namingMistypedKeys(() => this.readTasks(state, limit, offset));
  }

  private async readTasks(state: TaskState, limit: number, offset: number): Promise<TaskList> {
    if (FINAL_STATUSES.has(state as TaskStatus)) return this.finishedTasks(state, limit, offset);
    if (state === 'running') {
      const { tasks, malformed } = await this.runningTasks();
      const page = pageOf(tasks.slice(offset, offset + limit + 1), offset, limit);
      return { state, tasks: page.entries, malformed, complete: true, offset, nextOffset: page.nextOffset };
    }
    // One entry past the page tells whether another follows.
    const entries =
      state === 'queued' ? await this.queuedUuids(offset, limit + 1) : await this.client.zrange(this.keys.delayed, String(offset), String(offset + limit));
    const page = pageOf(entries, offset, limit);
    const list = await this.records(page.entries);
    // A queue entry whose task was cancelled or removed meanwhile is dropped by the next claim.
    return { state, tasks: list.tasks.filter((task) => task.status === 'new'), malformed: list.malformed, complete: true, offset, nextOffset: page.nextOffset };
  }

  /** One task's record, or null; a malformed record throws MalformedRecordError naming it. */
  async task(uuid: string): Promise<TaskRecord | null> {
    const raw = await getRecordText(this.client, this.keys.record(uuid), uuid);
    return raw === null ? null : decodeRecord(uuid, raw);
  }

  /**
   * The version (an ETag) of a finished task's record, read from its first bytes only; undefined
   * when the task is not finished, gone, or its record unreadable (those are read in full).
   */
  async finishedVersion(uuid: string): Promise<string | undefined> {
    const [head] = await this.heads([uuid]);
    return head && head !== OTHER_TYPE && head.updatedAt > 0 ? finishedVersion(head.status, head.updatedAt) : undefined;
  }

  /**
   * Runs `read`; when Redis refuses one of its commands as run on a key of another type (a record's
   * is listed apart, not refused), throws MalformedKeyError naming the key, found by its type.
   */
  private async namingMistypedKeys<T>(read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (error) {
      if (!isWrongTypeError(error)) throw error;
      throw (await this.mistypedKey()) ?? error;
    }
  }

  /**
   * The first of the app's keys the inspector reads itself whose Redis type is not the engine's;
   * one call, made only after a refusal. GlobalConfig keys are left out: RedisGlobalConfig names
   * its own (the overview lists them in `unreadable`), so one here would hide the key that failed.
   */
  private async mistypedKey(): Promise<MalformedKeyError | undefined> {
    return mistypedKey(this.client, [...queueKeyTypes(this.keys), ...(await this.listKeyTypes())]);
  }

  /**
   * The lists named in other keys: the queue of each priority, the waiting line of each name with
   * one, the uuids of each live batch. A naming key that cannot be read names none (queueKeyTypes
   * checks it).
   */
  private async listKeyTypes(): Promise<[key: string, type: string][]> {
    const names = (read: Promise<string[]>) =>
      read.catch((error: unknown): string[] => {
        if (isWrongTypeError(error)) return [];
        throw error;
      });
    const [priorities, lines, pauses, batches] = await Promise.all([
      names(this.client.zrange(this.keys.priorities, 0, '-1')),
      names(this.client.zrange(this.keys.waitingLineReopens, 0, '-1')),
      names(this.client.smembers(this.keys.pauses)),
      names(this.client.zrange(this.keys.active, 0, '-1')),
    ]);
    return [
      ...priorities.map((priority) => this.keys.queue(priority)),
      ...[...lines, ...pauses].map((name) => this.keys.waitingLine(name)),
      ...batches.map((batch) => this.keys.batch(batch)),
    ].map((key): [string, string] => [key, 'list']);
  }

  /** Names of the apps with queue keys on this Redis (found by a bounded scan). */
  async apps(): Promise<string[]> {
    const names = new Set<string>();
    for (const pattern of ['qtasks:{*}:catalog', 'qtasks:{*}:st', 'qtasks:{*}:qp']) {
      for (const key of (await this.scan(pattern, this.everyNode())).keys) names.add(key.slice('qtasks:{'.length, key.lastIndexOf('}')));
    }
    return [...names].sort();
  }

  private async queueLengths(): Promise<{ priority: number; queued: number }[]> {
    const priorities = await this.client.zrange(this.keys.priorities, 0, '-1');
    const lengths = await Promise.all(priorities.map((priority) => this.client.llen(this.keys.queue(priority))));
    return priorities.map((priority, index) => ({ priority: Number(priority), queued: lengths[index]! }));
  }

  private async waitingLines(): Promise<Pick<QueueOverview, 'paused' | 'pausedTasks' | 'waitingLines'>> {
    const { names, reopens, pausedTasks, queuePaused, running } = await this.lineNames();
    const lengths = await Promise.all(names.map((name) => this.client.llen(this.keys.waitingLine(name))));
    const now = Date.now();
    const waitingLines = names
      .map((task, i) => {
        const reopensAt = reopens.get(task) ?? 0;
        const waitsForSlot = reopensAt >= RUNNING_SLOT_WAIT;
        return {
          task,
          waiting: lengths[i]!,
          paused: pausedTasks.includes(task),
          reopensAt: reopensAt > now && !waitsForSlot ? new Date(reopensAt) : null,
          waitsForSlot,
          running: running.get(task) ?? 0,
        };
      })
      .filter(({ waiting }) => waiting > 0);
    return { paused: queuePaused, pausedTasks, waitingLines };
  }

  /**
   * Names that may have a waiting line: scheduled (rate and running limits), with their due times,
   * or paused; the running slots held per name; and whether the whole queue is paused (the member
   * '' of the pauses, see pause.lua).
   */
  private async lineNames(): Promise<{ names: string[]; reopens: Map<string, number>; pausedTasks: string[]; queuePaused: boolean; running: Map<string, number> }> {
    const [entries, pauses, counts] = await Promise.all([
      this.client.zrange(this.keys.waitingLineReopens, 0, '-1', 'WITHSCORES'),
      this.client.smembers(this.keys.pauses),
      this.client.hgetall(this.keys.runningCounts),
    ]);
    const reopens = new Map<string, number>();
    for (let i = 0; i < entries.length; i += 2) reopens.set(entries[i]!, Number(entries[i + 1]));
    const running = new Map(Object.entries(counts).map(([name, count]) => [name, Number(count)]));
    const pausedTasks = pauses.filter((name) => name !== '').sort();
    return { names: [...new Set([...reopens.keys(), ...pausedTasks])], reopens, pausedTasks, queuePaused: pauses.includes(''), running };
  }

  /**
   * Up to `count` entries from position `offset` of the queue lists, in priority order, then of the
   * waiting lines (rate and running limits, pauses): the order queued tasks run in.
   */
  private async queuedUuids(offset: number, count: number): Promise<string[]> {
    const [priorities, { names }] = await Promise.all([this.client.zrange(this.keys.priorities, 0, '-1'), this.lineNames()]);
    const lists = [...priorities.map((priority) => this.keys.queue(priority)), ...names.map((name) => this.keys.waitingLine(name))];
    const lengths = await Promise.all(lists.map((list) => this.client.llen(list)));
    const uuids: string[] = [];
    // Where the page starts within the list at hand: the lists before it are skipped whole.
    let start = offset;
    for (const [index, list] of lists.entries()) {
      if (uuids.length >= count) break;
      if (start >= lengths[index]!) {
        start -= lengths[index]!;
        continue;
      }
      uuids.push(...(await this.client.lrange(list, start, start + count - uuids.length - 1)));
      start = 0;
    }
    return uuids;
  }

  /**
   * Tasks of the batches under a live lease. A batch keeps its uuid list until its last task
   * settles, so a task retried or given back meanwhile is still listed there, and again under the
   * batch that claimed it next: a task runs under the batch its lease token (`<batch>:<n>`) names.
   */
  private async runningTasks(): Promise<Pick<TaskList, 'tasks' | 'malformed'>> {
    const batches = await this.client.zrange(this.keys.active, 0, '-1');
    const lists = await Promise.all(batches.map((batch) => this.client.lrange(this.keys.batch(batch), 0, -1)));
    // A claim lists a task under its batch in the same step that gives it the batch's token, so a
    // token naming a live batch means the task is listed there.
    const live = new Set(batches);
    const list = await this.records([...new Set(lists.flat())], (_, raw) => {
      const token = readRecordHead(raw)?.token;
      return token !== undefined && live.has(token.slice(0, token.lastIndexOf(':')));
    });
    return { ...list, tasks: list.tasks.filter((task) => task.status === 'process') };
  }

  private async finishedTasks(state: TaskState, limit: number, offset: number): Promise<TaskList> {
    if (await this.hasCurrentIndex(state)) {
      const page = pageOf(await this.client.zrevrange(this.keys.finished(state), offset, offset + limit), offset, limit);
      return { state, ...(await this.records(page.entries)), complete: true, offset, nextOffset: page.nextOffset };
    }
    const { finished, malformed, complete, at } = await this.recentScan();
    // Pages of one scan: the reused scan keeps them in one order while the reader pages through.
    const page = pageOf((finished.get(state) ?? []).slice(offset, offset + limit + 1), offset, limit);
    const list = await this.records(page.entries);
    return {
      state,
      // Read now: a task requeued since the scan is left out.
      tasks: list.tasks.filter((task) => task.status === state),
      malformed: [...malformed, ...list.malformed],
      complete,
      offset,
      nextOffset: page.nextOffset,
      scannedAt: new Date(at),
    };
  }

  /**
   * The last scan of the records while it is younger than SCAN_REUSE_MS, else a new one: a
   * dashboard refreshing every few seconds would otherwise rescan up to SCAN_BUDGET keys each
   * time, for each tab. Calls made meanwhile share the scan under way.
   */
  private recentScan(): Promise<ScannedRecords> {
    const now = Date.now();
    if (!this.lastScan || now - this.lastScan.at >= SCAN_REUSE_MS) {
      const scanned = this.scanRecords(now);
      this.lastScan = { at: now, scanned };
      // A failed scan (Redis down) is not kept: the next call tries again.
      scanned.catch(() => {
        if (this.lastScan?.scanned === scanned) this.lastScan = undefined;
      });
    }
    return this.lastScan.scanned;
  }

  /** Scans the records and reads only their heads to sort the finished ones by status, newest first. */
  private async scanRecords(at: number): Promise<ScannedRecords> {
    const { keys, complete } = await this.scan(`${escapeGlob(this.keys.prefix)}t:*`, this.appNodes());
    // A key can come twice from SCAN (the keyspace resized meanwhile).
    const uuids = [...new Set(keys)].map((key) => key.slice(this.keys.prefix.length + 2));
    const heads = await this.heads(uuids);
    const malformed: TaskList['malformed'] = [];
    const unread: string[] = [];
    const finished: { uuid: string; status: string; updatedAt: number }[] = [];
    uuids.forEach((uuid, index) => {
      const head = heads[index];
      if (head === null) malformed.push({ uuid, reason: 'no status at the start of the stored record' });
      else if (head === OTHER_TYPE) unread.push(uuid);
      else if (head && FINAL_STATUSES.has(head.status as TaskStatus)) finished.push({ uuid, status: head.status, updatedAt: head.updatedAt });
    });
    const byStatus = new Map<string, string[]>();
    for (const { uuid, status } of finished.sort((a, b) => b.updatedAt - a.updatedAt)) {
      const uuidsOfStatus = byStatus.get(status) ?? [];
      uuidsOfStatus.push(uuid);
      byStatus.set(status, uuidsOfStatus);
    }
    return { at, finished: byStatus, malformed: [...malformed, ...(await this.otherTypes(unread))], complete };
  }

  /**
   * Whether `f:<status>` holds every task that finished with it. Each finish indexed there raises
   * the index's top score and the status's total (`st`) by one, so a total above the top score
   * means tasks finished unindexed: keepFinishedTasks turned off (the index stays, no longer
   * growing) or set only later, or not set in the app that finished them.
   */
  private async hasCurrentIndex(status: TaskState): Promise<boolean> {
    const [[, top], stored] = await Promise.all([
      this.client.zrange(this.keys.finished(status), '-1', '-1', 'WITHSCORES'),
      this.client.hget(this.keys.finishedCounts, status),
    ]);
    // Read first: a total holding no integer is named whether or not there is an index to judge.
    const total = this.finishedTotal(status, stored);
    return top !== undefined && Number(top) >= total;
  }

  /**
   * A status's finished total as stored (`st`, none: 0); one holding no integer (written by hand or
   * by another tool) throws MalformedKeyError naming the key and the field, rather than showing NaN.
   */
  private finishedTotal(status: TaskState, stored: string | null | undefined): number {
    if (stored === null || stored === undefined) return 0;
    if (!/^-?\d+$/.test(stored)) throw new MalformedKeyError(this.keys.finishedCounts, 'string', 'integer', status);
    return Number(stored);
  }

  /**
   * The head of each record, from its first bytes only: undefined when it is gone, null when it
   * does not start with one (not a stored record), OTHER_TYPE when its key holds no string.
   */
  private async heads(uuids: string[]): Promise<(RecordHead | null | undefined | typeof OTHER_TYPE)[]> {
    const heads: (RecordHead | null | undefined | typeof OTHER_TYPE)[] = [];
    for (let start = 0; start < uuids.length; start += SCAN_COUNT) {
      const pipeline = this.client.pipeline();
      for (const uuid of uuids.slice(start, start + SCAN_COUNT)) pipeline.getrange(this.keys.record(uuid), 0, RECORD_HEAD_BYTES - 1);
      for (const [error, raw] of (await pipeline.exec()) ?? []) {
        if (error && !isWrongTypeError(error)) throw error;
        heads.push(error ? OTHER_TYPE : raw === '' ? undefined : readRecordHead(raw as string));
      }
    }
    return heads;
  }

  /**
   * Of records that could not be read as strings, those whose key still holds another Redis type
   * (a hash, say), with why. Looked up only for those: one call, rarely made.
   */
  private async otherTypes(uuids: string[]): Promise<TaskList['malformed']> {
    if (uuids.length === 0) return [];
    const pipeline = this.client.pipeline();
    for (const uuid of uuids) pipeline.type(this.keys.record(uuid));
    const types = (await pipeline.exec()) ?? [];
    return uuids.flatMap((uuid, index) => {
      const [error, type] = types[index] ?? [];
      if (error) throw error;
      // 'string': written since the first read; it is listed at the next.
      return type === 'none' || type === 'string' ? [] : [{ uuid, reason: wrongTypeReason(type as string) }];
    });
  }

  /**
   * The summaries of the records of `uuids` in order, of those `accept` takes; gone ones are left
   * out, malformed ones (keys of another Redis type too) listed apart.
   */
  private async records(uuids: string[], accept: (uuid: string, raw: string) => boolean = () => true): Promise<Pick<TaskList, 'tasks' | 'malformed'>> {
    const list: Pick<TaskList, 'tasks' | 'malformed'> = { tasks: [], malformed: [] };
    for (let start = 0; start < uuids.length; start += READ_CHUNK) {
      const chunk = uuids.slice(start, start + READ_CHUNK);
      // A GET each, not one MGET: MGET answers nil for a key of another type as for a missing one,
      // and gone records (ids left in lists) would each cost a TYPE look-up to tell them apart.
      const pipeline = this.client.pipeline();
      for (const uuid of chunk) pipeline.get(this.keys.record(uuid));
      const replies = (await pipeline.exec()) ?? [];
      const otherType: string[] = [];
      chunk.forEach((uuid, index) => {
        const [error, raw] = replies[index] ?? [];
        if (error) {
          if (!isWrongTypeError(error)) throw error;
          otherType.push(uuid);
          return;
        }
        if (raw === null || raw === undefined || !accept(uuid, raw as string)) return;
        try {
          list.tasks.push(summarize(decodeRecord(uuid, raw as string)));
        } catch (error) {
          list.malformed.push({ uuid, reason: (error as Error).message });
        }
      });
      list.malformed.push(...(await this.otherTypes(otherType)));
    }
    return list;
  }

  /** Every node that holds keys: each master of a cluster. */
  private everyNode(): RedisClient[] {
    return this.client instanceof Cluster ? this.client.nodes('master') : [this.client];
  }

  /**
   * The node that holds this app's keys: on a cluster, the master serving the app's slot, so that
   * the scan budget is not spent on other masters' keys (every master while ioredis does not know
   * that master yet, as when it is refreshing its slot map).
   */
  private appNodes(): RedisClient[] {
    if (!(this.client instanceof Cluster)) return [this.client];
    const masters = this.client.nodes('master');
    const owner = this.client.slots[this.keys.slot]?.[0];
    const found = masters.filter(({ options }) => `${options.host}:${options.port}` === owner);
    return found.length > 0 ? found : masters;
  }

  /** Keys matching `pattern` on `nodes`, until the scan budget runs out. */
  private async scan(pattern: string, nodes: RedisClient[]): Promise<{ keys: string[]; complete: boolean }> {
    const keys: string[] = [];
    let looked = 0;
    for (const node of nodes) {
      let cursor = '0';
      do {
        if (looked >= SCAN_BUDGET) return { keys, complete: false };
        const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
        keys.push(...found);
        looked += SCAN_COUNT;
        cursor = next;
      } while (cursor !== '0');
    }
    return { keys, complete: true };
  }
}

/**
 * An ETag for a finished record: its status and update time. A finished record is rewritten only
 * by a requeue, which sets both anew; the version of a task still on its way is undefined.
 */
export function finishedVersion(status: string, updatedAt: number): string | undefined {
  return FINAL_STATUSES.has(status as TaskStatus) ? `"${status}-${updatedAt}"` : undefined;
}

/** The first `limit` of `entries`, read one past the page, and where the next page starts (null: none follows). */
function pageOf<T>(entries: T[], offset: number, limit: number): { entries: T[]; nextOffset: number | null } {
  return { entries: entries.slice(0, limit), nextOffset: entries.length > limit ? offset + limit : null };
}

/** Refuses a state that is not one of TASK_STATES, naming them (the API checks before Redis is reached). */
export function assertTaskState(state: string): asserts state is TaskState {
  if (!(TASK_STATES as readonly string[]).includes(state)) {
    throw new InvalidOptionError(`Unknown task state "${state}"; use one of ${TASK_STATES.join(', ')}.`);
  }
}

function summarize(record: TaskRecord): TaskSummary {
  const { uuid, taskName, status, priority, attempt, stalls, createdAt, updatedAt, startedAt, finishedAt, runAt, worker } = record;
  return { uuid, taskName, status, priority, attempt, stalls, createdAt, updatedAt, startedAt, finishedAt, runAt, worker };
}

/** `text` with Redis glob characters escaped, for a MATCH pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
