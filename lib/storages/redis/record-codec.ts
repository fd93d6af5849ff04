import { MalformedRecordError } from '../../core/errors.js';
import { TASK_STATUSES, type NewTask, type TaskRecord, type TaskStatus } from '../../core/task-record.js';

/**
 * The stored form of a record: one JSON object with one-letter keys (see lua/includes/common.lua).
 * Arguments and result stay JSON text inside it, so the Lua scripts never re-encode user data.
 */
interface StoredRecord {
  n: string;
  s: string;
  p?: number;
  a: string;
  c: number;
  u?: number;
  t?: number;
  b?: number;
  f?: number;
  r?: string;
  e?: string;
  x?: string;
  w?: string;
  l?: number;
  d?: number;
  g?: string;
  h?: string[];
}

/**
 * A new record leaves out what its defaults say (priority 0, updated = created, attempt 1): queued
 * tasks are the ones that pile up, so their bytes count most. Scripts add `u` on the first change.
 */
export function encodeNewRecord(task: NewTask): string {
  const stored: StoredRecord = { n: task.taskName, s: 'new', a: task.argsJson, c: task.createdAt };
  if (task.priority !== 0) stored.p = task.priority;
  if (task.delayMs > 0) stored.d = task.createdAt + task.delayMs;
  return JSON.stringify(stored);
}

export function decodeRecord(uuid: string, raw: string): TaskRecord {
  let stored: StoredRecord;
  try {
    stored = JSON.parse(raw) as StoredRecord;
  } catch {
    throw new MalformedRecordError(uuid, `not JSON: ${raw.slice(0, 80)}`);
  }
  if (typeof stored !== 'object' || stored === null) throw new MalformedRecordError(uuid, 'not an object');
  if (typeof stored.n !== 'string') throw new MalformedRecordError(uuid, 'no task name');
  if (!TASK_STATUSES.includes(stored.s as TaskStatus)) throw new MalformedRecordError(uuid, `unknown status "${stored.s}"`);
  const record: TaskRecord = {
    uuid,
    taskName: stored.n,
    status: stored.s as TaskStatus,
    priority: stored.p ?? 0,
    args: parseJsonField(uuid, 'arguments', stored.a ?? '[]') as unknown[],
    createdAt: new Date(stored.c),
    updatedAt: new Date(stored.u ?? stored.c),
    attempt: stored.t ?? 1,
    stalls: stored.l ?? 0,
  };
  if (stored.b !== undefined) record.startedAt = new Date(stored.b);
  if (stored.f !== undefined) record.finishedAt = new Date(stored.f);
  if (stored.r !== undefined) record.returning = parseJsonField(uuid, 'result', stored.r);
  if (stored.e !== undefined) record.traceback = stored.e;
  if (stored.x !== undefined) record.cancelReason = stored.x;
  if (stored.w !== undefined) record.worker = stored.w;
  if (stored.d !== undefined) record.runAt = new Date(stored.d);
  if (stored.g !== undefined) record.progress = parseJsonField(uuid, 'progress', stored.g);
  if (Array.isArray(stored.h)) record.errors = stored.h;
  return record;
}

function parseJsonField(uuid: string, what: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedRecordError(uuid, `its ${what} are not JSON`);
  }
}
