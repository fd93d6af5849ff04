import type { WorkerStatus } from '../configs/global-config.js';
import type { ScheduleState } from '../core/schedule.js';
import type { TaskRecord } from '../core/task-record.js';
import { TASK_STATES, type QueueOverview, type TaskList } from '../webview/inspector.js';

/** Text the CLI prints: aligned columns, times in ISO form, nothing the JSON output lacks. */

/** Control characters but newline and tab: C0, DEL and C1 (a terminal takes some of C1 as escapes too). */
const CONTROL_CHARACTERS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * `text` with each control character but newline and tab written as its JSON escape (`\u001b`).
 * Task data (a traceback, a task name) may carry escape sequences that would drive the terminal:
 * retitle it, clear it, write the clipboard. In JSON output the same escape keeps the JSON valid.
 */
export function terminalSafe(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function formatOverview(overview: QueueOverview, where: string): string {
  const counts = TASK_STATES.map((state) => `${state} ${overview.counts[state]}`).join('  ');
  const queues = overview.queues.map(({ priority, queued }) => `priority ${priority}: ${queued}`).join(', ') || 'empty';
  const lines = [
    `app ${overview.app} on ${where}`,
    counts,
    `queues: ${queues}`,
    ...(overview.paused ? ['PAUSED: no task starts until `qtasks resume`'] : []),
    ...(overview.pausedTasks.length > 0 ? [`paused tasks: ${overview.pausedTasks.join(', ')}`] : []),
    ...overview.waitingLines.map((line) => `waiting: ${line.waiting} of ${line.task} ${heldUntil(line)}`),
    `tasks known: ${overview.catalog.map(({ name }) => name).join(', ') || 'none published'}`,
    formatWorkers(overview.workers),
  ];
  // Most often a mistyped --app (or the wrong Redis or database): say so rather than show zeros.
  if (storesNothing(overview)) lines.push(`(nothing is stored for app "${overview.app}" here; \`qtasks apps\` lists the apps found)`);
  return lines.join('\n');
}

/** What a waiting line waits for (see QueueOverview.waitingLines). */
function heldUntil({ paused, reopensAt, waitsForSlot, running }: QueueOverview['waitingLines'][number]): string {
  if (paused) return 'until it is resumed';
  if (waitsForSlot) return `for a running slot (${running} running, its maxRunning)`;
  return reopensAt ? `for its rate limit, until ${iso(reopensAt)}` : 'due now (the next claim starts them)';
}

function storesNothing({ counts, catalog, workers, schedules, settings, paused, pausedTasks }: QueueOverview): boolean {
  const anything = catalog.length + workers.length + schedules.length + Object.keys(settings).length + pausedTasks.length;
  return TASK_STATES.every((state) => counts[state] === 0) && anything === 0 && !paused;
}

export function formatWorkers(workers: WorkerStatus[]): string {
  if (workers.length === 0) return 'workers: none alive';
  const rows = workers.map((worker) => [
    worker.id,
    // A heartbeat is stored JSON: one written by another version or tool may lack fields.
    `${worker.running}/${worker.maxTasksProcess ?? '?'} running`,
    `up since ${iso(worker.startedAt)}`,
    Array.isArray(worker.tasks) ? worker.tasks.join(', ') : '',
  ]);
  return `workers (${workers.length}):\n${table(rows)}`;
}

export function formatTaskList(list: TaskList): string {
  const rows = list.tasks.map((task) => [
    task.uuid,
    task.taskName,
    task.status,
    `p${task.priority}`,
    `attempt ${task.attempt}`,
    iso(task.finishedAt ?? task.startedAt ?? task.runAt ?? task.createdAt),
  ]);
  const lines = [rows.length > 0 ? table(rows) : `no ${list.state} tasks`];
  for (const { uuid, reason } of list.malformed) lines.push(`malformed record ${uuid}: ${reason}`);
  if (!list.complete) lines.push('(a sample: the scan of stored records stopped at its budget; set keepFinishedTasks for exact lists)');
  if (list.nextOffset !== null) lines.push(`(more follow: --offset ${list.nextOffset})`);
  return lines.join('\n');
}

export function formatRecord(record: TaskRecord): string {
  const fields: [string, unknown][] = [
    ['uuid', record.uuid],
    ['task', record.taskName],
    ['status', record.status],
    ['priority', record.priority],
    ['attempt', record.attempt],
    ['args', JSON.stringify(record.args)],
    ['created', iso(record.createdAt)],
    ['run at', record.runAt && iso(record.runAt)],
    ['started', record.startedAt && iso(record.startedAt)],
    ['finished', record.finishedAt && iso(record.finishedAt)],
    ['worker', record.worker],
    ['progress', record.progress === undefined ? undefined : JSON.stringify(record.progress)],
    ['result', record.status === 'success' ? JSON.stringify(record.returning) : undefined],
    ['cancel reason', record.cancelReason],
    ['stalls', record.stalls || undefined],
    ['traceback', record.traceback],
  ];
  return table(fields.filter(([, value]) => value !== undefined).map(([label, value]) => [label, String(value)]));
}

export function formatSchedules(schedules: ScheduleState[]): string {
  if (schedules.length === 0) return 'no schedules';
  return table(
    schedules.map((schedule) => [
      schedule.name,
      schedule.taskName,
      timing(schedule),
      `last ${schedule.lastRun ? iso(schedule.lastRun) : 'never'}`,
      `next ${schedule.nextRun ? iso(schedule.nextRun) : 'unknown'}`,
    ]),
  );
}

/** When a schedule fires: a cron expression with its time zone (the system's when none is set), or the interval. */
function timing({ cron, timezone, every }: ScheduleState): string {
  if (cron === undefined) return `every ${every} ms`;
  return timezone ? `${cron} (${timezone})` : cron;
}

/**
 * Rows as columns padded to their widest cell; a multi-line last cell keeps its own lines. Cells
 * from stored JSON (heartbeats, schedules) may be missing or not text: they print as text or empty.
 */
function table(rows: unknown[][]): string {
  const cells = rows.map((row) => row.map((cell) => String(cell ?? '')));
  const widths: number[] = [];
  for (const row of cells) row.slice(0, -1).forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return cells.map((row) => row.map((cell, index) => (index < row.length - 1 ? cell.padEnd(widths[index]!) : cell)).join('  ')).join('\n');
}

/** A time in ISO form; `unknown` for one that is not a time (a malformed stored field). */
function iso(time: Date | number): string {
  const date = new Date(time);
  return Number.isNaN(date.getTime()) ? 'unknown' : date.toISOString();
}
