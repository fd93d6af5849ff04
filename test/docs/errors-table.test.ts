// The README's errors table is where a user looks up an error they caught: every error class the
// package's entry points export must have its row there, with the code its instances carry, and
// the typed codes (QTasksErrorCode) must be the table's.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import * as engine from '../../lib/engine.js';
import type { QTasksErrorCode, TaskRecord } from '../../lib/engine.js';
import * as main from '../../lib/index.js';
import * as testing from '../../lib/testing/index.js';
import { REPO_ROOT } from '../helpers/readme-examples.js';

const { QTasksError } = engine;

/** The README's errors table: class name (`| \`Name\` | \`CODE\` |`) to its code. */
function documentedErrors(): Map<string, string> {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  return new Map([...readme.matchAll(/^\| `(\w+)` \| `([A-Z_]+)` \|/gm)].map(([, name, code]) => [name!, code!]));
}

const exportedErrorClasses = Object.entries({ ...engine, ...main, ...testing })
  .filter(([, value]) => typeof value === 'function' && (value === QTasksError || value.prototype instanceof QTasksError))
  .map(([name]) => name);

/** Every code of the type, once: tsc refuses this object when a code is missing or unknown. */
const typedCodes: Record<QTasksErrorCode, true> = {
  UNKNOWN_TASK: true,
  DUPLICATE_TASK: true,
  NOT_SERIALIZABLE: true,
  PAYLOAD_TOO_LARGE: true,
  INVALID_OPTION: true,
  WAIT_TIMEOUT: true,
  TASK_NOT_FOUND: true,
  INVALID_TASK_STATE: true,
  ADD_TOO_LATE: true,
  TASK_FAILED: true,
  MALFORMED_RECORD: true,
  MALFORMED_KEY: true,
  REDIS_UNAVAILABLE: true,
  APP_STOPPED: true,
  STOPPED: true,
  INVALID_SCHEDULE: true,
  DUPLICATE_SCHEDULE: true,
  PLUGIN_FAILED: true,
  PLUGIN_TIMEOUT: true,
  PLUGIN_BAD_ANSWER: true,
  INVALID_ARGUMENTS: true,
  NON_RETRYABLE: true,
  TASK_TIMEOUT: true,
  TASK_CANCELLED: true,
  WORKER_STOPPED: true,
  THREAD_MODULE: true,
  THREAD_CRASHED: true,
  THREAD_START: true,
  WEBVIEW_START: true,
  NOT_ATTACHED: true,
  DRAIN_TIMEOUT: true,
  REDIS_SERVER: true,
};

/** An error with the code its class declares: tsc refuses a code other than the declared one. */
function instance<E extends engine.QTasksError>(error: E, declared: E['code']): { error: E; declared: string } {
  return { error, declared };
}

const failedRecord = { uuid: 'u1', taskName: 'mail', status: 'error', traceback: 'Error: boom' } as TaskRecord;
const unavailable = new engine.RedisUnavailableError('127.0.0.1:6379', new Error('ECONNREFUSED'));
const instances = [
  instance(new QTasksError('STOPPED', 'stopped'), 'STOPPED'),
  instance(new engine.UnknownTaskError('mail', []), 'UNKNOWN_TASK'),
  instance(new engine.DuplicateTaskError('mail', 'A.mail', 'B.mail'), 'DUPLICATE_TASK'),
  instance(new engine.NotSerializableError('Arguments', '$[0]', 'is a BigInt'), 'NOT_SERIALIZABLE'),
  instance(new engine.PayloadTooLargeError('mail', 2, 1), 'PAYLOAD_TOO_LARGE'),
  instance(new engine.InvalidOptionError('bad'), 'INVALID_OPTION'),
  instance(new engine.WaitTimeoutError('u1', 10, null), 'WAIT_TIMEOUT'),
  instance(new engine.TaskNotFoundError('u1'), 'TASK_NOT_FOUND'),
  instance(new engine.TaskStateError('u1', 'new', 'wanted error'), 'INVALID_TASK_STATE'),
  instance(new engine.AddTooLateError('tick', 0), 'ADD_TOO_LATE'),
  instance(new engine.TaskFailedError(failedRecord), 'TASK_FAILED'),
  instance(new engine.MalformedRecordError('u1', 'not JSON'), 'MALFORMED_RECORD'),
  instance(new engine.MalformedKeyError('k', 'hash', 'string'), 'MALFORMED_KEY'),
  instance(unavailable, 'REDIS_UNAVAILABLE'),
  instance(new engine.AddOutcomeUnknownError(unavailable, ['u1']), 'REDIS_UNAVAILABLE'),
  instance(new engine.AppStoppedError('app'), 'APP_STOPPED'),
  instance(new engine.InvalidScheduleError('tick', 'timer.add', 'bad cron'), 'INVALID_SCHEDULE'),
  instance(new engine.DuplicateScheduleError('tick'), 'DUPLICATE_SCHEDULE'),
  instance(new engine.PluginError('Audit', 'storage_add', new Error('boom')), 'PLUGIN_FAILED'),
  instance(new engine.PluginTimeoutError('Audit', 'storage_add', 5), 'PLUGIN_TIMEOUT'),
  instance(new engine.PluginAnswerError('Audit', 'storage_add', 'a number', []), 'PLUGIN_BAD_ANSWER'),
  instance(new engine.TaskValidationError('mail', ['to must be an email']), 'INVALID_ARGUMENTS'),
  instance(new engine.NonRetryableError('give up'), 'NON_RETRYABLE'),
  instance(new engine.TaskTimeoutError('mail', 5), 'TASK_TIMEOUT'),
  instance(new engine.TaskCancelledError('by hand'), 'TASK_CANCELLED'),
  instance(new engine.WorkerStoppedError(5), 'WORKER_STOPPED'),
  instance(new engine.ThreadModuleError('file:///hash.js', 'hash', 'no such export'), 'THREAD_MODULE'),
  instance(new engine.ThreadCrashedError('file:///hash.js', 'hash', 'exit 1'), 'THREAD_CRASHED'),
  instance(new engine.ThreadStartError('thread-entry.js', 'exit 1'), 'THREAD_START'),
  instance(new engine.WebViewStartError('127.0.0.1:8180', new Error('EACCES')), 'WEBVIEW_START'),
  instance(new engine.NotAttachedError('Worker', 'start the app'), 'NOT_ATTACHED'),
  instance(new testing.DrainTimeoutError(5, []), 'DRAIN_TIMEOUT'),
  instance(new testing.RedisServerError('no redis-server'), 'REDIS_SERVER'),
];

it('lists every exported error class in the README errors table', () => {
  expect(exportedErrorClasses.length).toBeGreaterThan(20);
  expect(exportedErrorClasses.filter((name) => !documentedErrors().has(name))).toEqual([]);
});

it('gives each class the code of its row, the one its type declares', () => {
  const documented = documentedErrors();
  expect(instances.map(({ error }) => error.constructor.name).sort()).toEqual([...exportedErrorClasses].sort());
  for (const { error, declared } of instances) {
    expect({ name: error.name, code: error.code }).toEqual({ name: error.name, code: declared });
    expect({ name: error.name, code: documented.get(error.name) }).toEqual({ name: error.name, code: declared });
  }
});

it('types as QTasksErrorCode exactly the codes of the table', () => {
  expect(Object.keys(typedCodes).sort()).toEqual([...new Set(documentedErrors().values())].sort());
});
