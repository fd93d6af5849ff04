import type { WorkerStatus } from '../configs/global-config.js';
import type { ScheduleState } from '../core/schedule.js';
import type { TaskRecord } from '../core/task-record.js';
import { TASK_STATES, type QueueOverview, type TaskList } from '../webview/inspector.js';

/** Text the CLI prints: aligned columns, times in ISO form, nothing the JSON output lacks. */

export function formatOverview(overview: QueueOverview, where: string): string {
  const counts = TASK_STATES.map((state) => `${state} ${overview.counts[state]}`).join('  ');
  const queues = overview.queues.map(({ priority, queued }) => `priority ${priority}: ${queued}`).join(', ') || 'empty';
  return [
    `app ${overview.app} on ${where}`,
    counts,
    `queues: ${queues}`,
    `tasks known: ${overview.catalog.map(({ name }) => name).join(', ') || 'none published'}`,
    formatWorkers(overview.workers),
  ].join('\n');
}

export function formatWorkers(workers: WorkerStatus[]): string {
  if (workers.length === 0) return 'workers: none alive';
  const rows = workers.map((worker) => [
    worker.id,
    `${worker.running}/${worker.maxTasksProcess} running`,
    `up since ${iso(worker.startedAt)}`,
    worker.tasks.join(', '),
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
      schedule.cron ?? `every ${schedule.every} ms`,
      `last ${schedule.lastRun ? iso(schedule.lastRun) : 'never'}`,
      `next ${schedule.nextRun ? iso(schedule.nextRun) : 'unknown'}`,
    ]),
  );
}

/** Rows as columns padded to their widest cell; a multi-line last cell keeps its own lines. */
function table(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.slice(0, -1).forEach((cell, index) => (widths[index] = Math.max(widths[index] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, index) => (index < row.length - 1 ? cell.padEnd(widths[index]!) : cell)).join('  ')).join('\n');
}

function iso(time: Date | number): string {
  return new Date(time).toISOString();
}
