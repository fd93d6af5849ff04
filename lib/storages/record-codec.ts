import { MalformedRecordError } from '../core/errors.js';
import { TASK_STATUSES, type NewTask, type TaskRecord, type TaskStatus } from '../core/task-record.js';

/**
 * The stored form of a record, shared by the Redis backend (its Lua scripts edit it) and the memory
 * backend (which keeps the same JSON text, so callers never hold a reference to stored state).
 * One-letter keys keep it small (see lua/includes/record.lua). Arguments, result and progress stay
 * JSON text inside it, so the scripts never re-encode user data. Times are Unix milliseconds.
 */
export interface StoredRecord {
  /** task name */
  n: string;
  /** status */
  s: string;
  /** priority */
  p: number;
  /** arguments (JSON text) */
  a: string;
  /** created, updated */
  c: number;
  u: number;
  /** attempt */
  t: number;
  /** started, finished */
  b?: number;
  f?: number;
  /** result (JSON text) */
  r?: string;
  /** traceback */
  e?: string;
  /** cancel reason */
  x?: string;
  /** worker id */
  w?: string;
  /** stalls */
  l?: number;
  /** run-at of a delayed task */
  d?: number;
  /** progress (JSON text) */
  g?: string;
  /** tracebacks of earlier attempts */
  h?: string[];
  /** lease token, while a worker holds the task (the Redis scripts write it) */
  k?: string;
}

/** The stored form of a task just enqueued, status first (the key order of lua/includes/record.lua). */
export function newStoredRecord(task: NewTask): StoredRecord {
  const stored: StoredRecord = {
    s: 'new',
    n: task.taskName,
    p: task.priority,
    a: task.argsJson,
    c: task.createdAt,
    u: task.createdAt,
    t: 1,
  };
  if (task.delayMs > 0) stored.d = task.createdAt + task.delayMs;
  return stored;
}

/**
 * The Redis form of a new record leaves out what its defaults say (priority 0, updated = created,
 * attempt 1): queued tasks are what piles up in Redis, so their bytes count most. `decodeRecord` and
 * the scripts read the defaults back; the scripts add `u` on the first change.
 */
export function encodeNewRecord(task: NewTask): string {
  // JSON.stringify's text for newStoredRecord's fields in its key order, written without building
  // the object: every add encodes one.
  let json = `{"s":"new","n":${JSON.stringify(task.taskName)},"a":${JSON.stringify(task.argsJson)},"c":${task.createdAt}`;
  if (task.delayMs > 0) json += `,"d":${task.createdAt + task.delayMs}`;
  if (task.priority !== 0) json += `,"p":${task.priority}`;
  return `${json}}`;
}

/** Enough of a record for its head (status, update time, lease token; see lua/includes/record.lua). */
export const RECORD_HEAD_BYTES = 64;
const HEAD = /^\{"s":"(\w+)"(?:,"u":(\d+))?(?:,"k":"([^"]*)")?/;

export interface RecordHead {
  status: string;
  /** Update time: a finished task's finish time. */
  updatedAt: number;
  token?: string;
}

/**
 * A record's head from its first bytes (status first, as every writer stores it), or null when it
 * has none: readers that only need the status skip reading, and parsing, whole records.
 */
export function readRecordHead(raw: string): RecordHead | null {
  const match = HEAD.exec(raw);
  return match ? { status: match[1]!, updatedAt: Number(match[2] ?? 0), token: match[3] } : null;
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
  const fault = fieldFault(stored);
  if (fault) throw new MalformedRecordError(uuid, fault);
  const record: TaskRecord = {
    uuid,
    taskName: stored.n,
    status: stored.s as TaskStatus,
    priority: stored.p ?? 0,
    args: storedArgs(uuid, stored.a),
    createdAt: new Date(stored.c),
    updatedAt: new Date(stored.u ?? stored.c),
    attempt: stored.t ?? 1,
    stalls: stored.l ?? 0,
  };
  if (stored.b !== undefined) record.startedAt = new Date(stored.b);
  if (stored.f !== undefined) record.finishedAt = new Date(stored.f);
  if (stored.r !== undefined) record.returning = parseJsonField(uuid, 'its result is', stored.r);
  if (stored.e !== undefined) record.traceback = stored.e;
  if (stored.x !== undefined) record.cancelReason = stored.x;
  if (stored.w !== undefined) record.worker = stored.w;
  if (stored.d !== undefined) record.runAt = new Date(stored.d);
  if (stored.g !== undefined) record.progress = parseJsonField(uuid, 'its progress is', stored.g);
  if (Array.isArray(stored.h)) record.errors = stored.h;
  return record;
}

/**
 * The fields a record's readers (and the Redis scripts) compute with or hand on as typed, each with
 * the JSON type it must have when present: FIELD_TYPES in lua/includes/record.lua, in the same
 * order and words, so both backends and every script refuse the same records.
 */
const FIELD_TYPES: readonly [keyof StoredRecord, 'number' | 'string' | 'list', string][] = [
  ['p', 'number', 'priority'],
  ['c', 'number', 'creation time'],
  ['u', 'number', 'update time'],
  ['t', 'number', 'attempt'],
  ['b', 'number', 'start time'],
  ['f', 'number', 'finish time'],
  ['d', 'number', 'run-at time'],
  ['l', 'number', 'stall count'],
  ['e', 'string', 'traceback'],
  ['x', 'string', 'cancel reason'],
  ['w', 'string', 'worker'],
  ['k', 'string', 'lease token'],
  ['h', 'list', 'list of earlier tracebacks'],
];

/** Why the record's fields do not have their types (or it has no creation time), or undefined. */
function fieldFault(stored: StoredRecord): string | undefined {
  if (stored.c === undefined) return 'it has no creation time ("c")';
  for (const [field, expected, label] of FIELD_TYPES) {
    const value: unknown = stored[field];
    if (value === undefined) continue;
    if (typeOf(value) !== expected) return `its ${label} ("${field}") is not a ${expected}`;
  }
  return undefined;
}

/** A field's JSON type as FIELD_TYPES names it; `{}` is how the scripts' JSON encoder writes an empty list. */
function typeOf(value: unknown): string {
  const emptyObject = typeof value === 'object' && value !== null && Object.keys(value).length === 0;
  return Array.isArray(value) || emptyObject ? 'list' : typeof value;
}

/** The argument list; anything else (`"abc"`, `5`, `null`) would be spread into the handler as something else. */
function storedArgs(uuid: string, text: string | undefined): unknown[] {
  const args = parseJsonField(uuid, 'its arguments are', text ?? '[]');
  if (!Array.isArray(args)) throw new MalformedRecordError(uuid, `its arguments are not a JSON list: ${String(text).slice(0, 80)}`);
  return args;
}

/** `field` names the field with its verb ("its result is"), for the error's message. */
function parseJsonField(uuid: string, field: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedRecordError(uuid, `${field} not JSON`);
  }
}
