import { createHash } from 'node:crypto';
import { FINAL_STATUSES, type TaskStatus } from '../core/task-record.js';
import { TASK_STATES } from './inspector.js';
import { PAGE_SCRIPT } from './page-script.js';

const STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5rem 2rem; color: #1d2430; background: #f6f7f9; }
header { display: flex; align-items: baseline; gap: 1rem; }
h1 { font-size: 1.4rem; margin: 1rem 0 0.5rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
.muted, .empty { color: #6b7280; }
[role=alert] { background: #fde8e8; border: 1px solid #e02424; color: #9b1c1c; padding: 0.6rem 0.8rem; border-radius: 4px; }
.counts { display: flex; flex-wrap: wrap; gap: 0.75rem; }
.count { background: #fff; border: 1px solid #d8dde4; border-radius: 6px; padding: 0.5rem 0.9rem; min-width: 6.5rem; }
.count .value { display: block; font-size: 1.6rem; font-weight: 600; }
.count .rate { color: #6b7280; font-size: 0.85rem; }
table { border-collapse: collapse; background: #fff; width: 100%; }
th, td { text-align: left; padding: 0.3rem 0.6rem; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th { background: #eef0f3; font-weight: 600; }
td { overflow-wrap: anywhere; }
#tasks tr[data-uuid] { cursor: pointer; }
#tasks tr[data-uuid]:hover, tr.selected { background: #e8f0fe; }
nav button { font: inherit; padding: 0.3rem 0.8rem; border: 1px solid #c5ccd6; background: #fff; border-radius: 4px; cursor: pointer; }
nav button[aria-selected=true] { background: #1d4ed8; border-color: #1d4ed8; color: #fff; }
nav button:disabled { color: #9ca3af; cursor: default; }
.pager { margin-top: 0.5rem; }
#detail { background: #fff; border: 1px solid #d8dde4; border-radius: 6px; padding: 0.5rem 1rem 1rem; margin-top: 1rem; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 0.2rem 1rem; }
dt { color: #6b7280; }
dd { margin: 0; overflow-wrap: anywhere; }
pre { background: #f3f4f6; padding: 0.5rem; overflow: auto; max-height: 20rem; white-space: pre-wrap; overflow-wrap: anywhere; }
`;

/**
 * Allows the page's own script and style (by hash) and requests to its own server, nothing else:
 * a value that slipped into markup could still run no script.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  `script-src '${sha256(PAGE_SCRIPT)}'`,
  `style-src '${sha256(STYLE)}'`,
  "connect-src 'self'",
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function sha256(text: string): string {
  return `sha256-${createHash('sha256').update(text).digest('base64')}`;
}

function table(id: string, testId: string, columns: string[], hidden = false): string {
  return `<table id="${id}" data-testid="${testId}"${hidden ? ' hidden' : ''}><thead><tr>${columns.map((c) => `<th>${c}</th>`).join('')}</tr></thead><tbody></tbody></table>`;
}

/** The dashboard's one page; the app name is the only value put in at render, escaped. */
export function renderPage({ appName, refreshMs }: { appName: string; refreshMs: number }): string {
  const name = escapeHtml(appName);
  const counts = TASK_STATES.map(
    (state) =>
      `<div class="count"><span class="label">${state}</span><span class="value" data-testid="count-${state}">-</span>` +
      (FINAL_STATUSES.has(state as TaskStatus) ? `<span class="rate" data-testid="rate-${state}"></span>` : '') +
      '</div>',
  ).join('');
  const tabs = TASK_STATES.map(
    (state) => `<button type="button" data-state="${state}" data-testid="tab-${state}" aria-selected="false">${state}</button>`,
  ).join(' ');
  const blocks = [
    ['detail-args', 'Arguments'],
    ['detail-result', 'Result'],
    ['detail-progress', 'Progress'],
    ['detail-traceback', 'Traceback'],
    ['detail-errors', 'Errors of earlier attempts'],
  ]
    .map(([testId, title]) => `<div hidden><h3>${title}</h3><pre data-testid="${testId}"></pre></div>`)
    .join('');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${name} - qtasks</title>
<style>${STYLE}</style>
</head>
<body data-refresh-ms="${refreshMs}" data-states="${TASK_STATES.join(' ')}" data-finished="${[...FINAL_STATUSES].join(' ')}">
<header><h1>qtasks <span data-testid="app-name">${name}</span></h1><span class="muted" data-testid="updated"></span></header>
<div role="alert" data-testid="error-banner" hidden></div>
${table('unreadable', 'unreadable', ['unreadable GlobalConfig key', 'why'], true)}
<h2>Tasks</h2>
<div class="counts">${counts}</div>
<p class="muted">Finished: <span data-testid="rate-total">-</span> tasks/s</p>
<h2>Queues</h2>
${table('queues', 'queues', ['priority', 'queued'])}
<p role="status" data-testid="paused" hidden></p>
${table('waiting-lines', 'waiting-lines', ['task held back', 'waiting', 'until'])}
<h2>Workers</h2>
${table('workers', 'workers', ['id', 'host', 'pid', 'running', 'age', 'tasks'])}
<h2>Task list</h2>
<nav data-testid="tabs">${tabs}</nav>
<p class="muted" data-testid="list-note"></p>
${table('tasks', 'task-table', ['uuid', 'task', 'status', 'priority', 'attempt', 'created', 'started', 'finished'])}
<nav class="pager" data-testid="pager" hidden><button type="button" data-testid="page-previous">previous</button> <button type="button" data-testid="page-next">next</button></nav>
${table('malformed', 'malformed', ['unreadable record', 'why'], true)}
<section id="detail" data-testid="task-detail" hidden>
<h2>Task <button type="button" data-testid="detail-close">close</button></h2>
<p role="status" data-testid="detail-error"></p>
<dl data-testid="detail-fields"></dl>
${blocks}
</section>
<h2>Catalogue</h2>
${table('catalog', 'catalog', ['task', 'priority', 'rate limit', 'max running', 'description', 'tags', 'source'])}
<h2>Schedules</h2>
${table('schedules', 'schedules', ['name', 'task', 'timing', 'next run', 'last run', 'last task'])}
<h2>Settings</h2>
${table('settings', 'settings', ['key', 'value'])}
<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => HTML_ESCAPES[char]!);
}
