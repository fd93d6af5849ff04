/**
 * The dashboard's browser code: polls the JSON API and renders it. Every value from the API goes
 * into the DOM as text (textContent, text nodes, dataset), never as HTML: task arguments and
 * results are user data. No template literals in here: this is itself a template's text.
 */
export const PAGE_SCRIPT = String.raw`
'use strict';
// The server renders these lists into the page (TASK_STATES and FINAL_STATUSES), not copied here.
const STATES = document.body.dataset.states.split(' ');
const FINISHED = document.body.dataset.finished.split(' ');
const LIST_LIMIT = 100;
const refreshMs = Number(document.body.dataset.refreshMs) || 2000;
let listState = 'queued';
/** Position of the shown page in its state's order (the API's offset). */
let listOffset = 0;
let selectedUuid = null;
let previousTotals = null;
/** The latest counts per state and the latest list shown, for the note under the list. */
let latestCounts = null;
let shownList = null;
/** The task whose record the detail shows, with its version (ETag) when it is finished. */
let shownDetail = null;

const byId = (testId) => document.querySelector('[data-testid="' + testId + '"]');

/** An element with text children (strings become text nodes, never markup). */
function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === 'testid') node.dataset.testid = value;
    else if (key === 'className') node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child instanceof Node ? child : String(child ?? ''));
  return node;
}

/**
 * Most characters a table cell shows: a setting or description megabytes long would stretch the
 * page and slow every refresh. Whole values are in the API, the CLI and a task's detail.
 */
const CELL_MAX = 500;

function cellText(value) {
  const text = String(value ?? '');
  return text.length <= CELL_MAX ? text : text.slice(0, CELL_MAX) + '\u2026 (' + (text.length - CELL_MAX) + ' more characters)';
}

function row(testId, cells) {
  return el('tr', { testid: testId }, ...cells.map((cell) => el('td', null, cellText(cell))));
}

/**
 * Puts the nodes in the parent unless it holds equal ones already. Each poll renders everything anew:
 * replacing what did not change would drop the reader's text selection (a uuid or traceback being
 * copied) and keyboard focus at every refresh.
 */
function replaceIfChanged(parent, nodes) {
  const current = parent.children;
  if (current.length === nodes.length && nodes.every((node, index) => node.isEqualNode(current[index]))) return;
  parent.replaceChildren(...nodes);
}

/** Rows for a table body, or one row saying there is nothing. */
function fill(testId, rows, columns) {
  const body = byId(testId).tBodies[0];
  replaceIfChanged(body, rows.length ? rows : [el('tr', null, el('td', { colspan: String(columns), className: 'empty' }, 'none'))]);
}

/** Sets an element's text only when it differs (see replaceIfChanged). */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function pad(n) {
  return String(n).padStart(2, '0');
}

function time(value) {
  if (value === undefined || value === null) return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' +
    pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
}

function age(ms) {
  if (!Number.isFinite(ms)) return '';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm ' + (s % 60) + 's';
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}

/**
 * A list field of a heartbeat or catalogue entry. Those are stored JSON that another version or
 * tool may have written with anything there (a string, an object): shown as text, never trusted.
 */
function listText(value) {
  if (Array.isArray(value)) return value.join(', ');
  if (value === undefined || value === null) return '';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function json(value) {
  return value === undefined ? '' : JSON.stringify(value, null, 2);
}

class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

/** The API's answer: its body (null for a 304, which has none) and its ETag. */
async function fetchApi(path, headers) {
  let response;
  try {
    response = await fetch(path, { headers: Object.assign({ accept: 'application/json' }, headers), cache: 'no-store' });
  } catch (error) {
    throw new ApiError('The dashboard server does not answer: ' + error.message, 'UNREACHABLE');
  }
  if (response.status === 304) return { body: null, etag: response.headers.get('etag') };
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const problem = (body && body.error) || {};
    throw new ApiError(problem.message || 'HTTP ' + response.status, problem.code || 'HTTP_' + response.status);
  }
  return { body, etag: response.headers.get('etag') };
}

async function getJson(path) {
  return (await fetchApi(path)).body;
}

function showError(error) {
  const banner = byId('error-banner');
  banner.textContent = error.message;
  banner.dataset.code = error.code || '';
  banner.hidden = false;
}

function clearError() {
  const banner = byId('error-banner');
  banner.hidden = true;
  banner.textContent = '';
}

/** Finished tasks per second, from the totals of this poll and the one before. */
function renderRates(counts) {
  const now = performance.now();
  const totals = { at: now };
  for (const state of FINISHED) totals[state] = counts[state];
  const seconds = previousTotals ? (now - previousTotals.at) / 1000 : 0;
  let all = 0;
  for (const state of FINISHED) {
    const rate = seconds > 0 ? Math.max(0, counts[state] - previousTotals[state]) / seconds : null;
    if (rate !== null) all += rate;
    byId('rate-' + state).textContent = rate === null ? '' : rate.toFixed(1) + '/s';
  }
  byId('rate-total').textContent = seconds > 0 ? all.toFixed(1) : '-';
  previousTotals = totals;
}

function rateLimit(limit) {
  return limit ? limit.max + ' per ' + limit.windowMs + ' ms' : '';
}

/** What a waiting line waits for (see QueueOverview.waitingLines). */
function heldUntil(line) {
  if (line.paused) return 'resumed';
  if (line.waitsForSlot) return 'a running slot (' + line.running + ' running)';
  return line.reopensAt ? time(line.reopensAt) + ' (rate limit)' : 'due now';
}

function renderOverview(overview) {
  setText(byId('app-name'), overview.app);
  for (const state of STATES) setText(byId('count-' + state), String(overview.counts[state]));
  renderRates(overview.counts);
  latestCounts = overview.counts;
  renderListNote();
  fill('queues', overview.queues.map((q) => row('queue-row', [q.priority, q.queued])), 2);
  const paused = byId('paused');
  paused.hidden = !overview.paused && overview.pausedTasks.length === 0;
  setText(paused, [
    overview.paused ? 'Paused: no task starts until the queue is resumed.' : '',
    overview.pausedTasks.length > 0 ? 'Paused tasks: ' + overview.pausedTasks.join(', ') + '.' : '',
  ].filter(Boolean).join(' '));
  fill('waiting-lines', overview.waitingLines.map((w) =>
    row('waiting-line-row', [w.task, w.waiting, heldUntil(w)])), 3);
  const now = Date.now();
  fill('workers', overview.workers.map((w) => {
    const tr = row('worker-row', [w.id, w.host, w.pid, w.running + '/' + w.maxTasksProcess, age(now - w.startedAt), listText(w.tasks)]);
    tr.dataset.workerId = w.id;
    tr.cells[3].dataset.testid = 'worker-running';
    return tr;
  }), 6);
  fill('catalog', overview.catalog.map((t) =>
    row('catalog-row', [t.name, t.priority ?? '', rateLimit(t.rateLimit), t.maxRunning ?? '', t.description ?? '', listText(t.tags), t.source])), 7);
  fill('schedules', overview.schedules.map((s) => {
    const timing = s.cron ? 'cron ' + s.cron + (s.timezone ? ' (' + s.timezone + ')' : '') : 'every ' + s.every / 1000 + ' s';
    return row('schedule-row', [s.name, s.taskName, timing, time(s.nextRun), time(s.lastRun), s.lastTaskUuid ?? '']);
  }), 6);
  fill('settings', Object.entries(overview.settings).map(([key, value]) => row('setting-row', [key, JSON.stringify(value)])), 2);
  byId('unreadable').hidden = overview.unreadable.length === 0;
  fill('unreadable', overview.unreadable.map((u) => row('unreadable-row', [u.key, 'the key holds a Redis ' + u.type + ', not a ' + u.expected])), 2);
}

function renderList(list) {
  if (list.state !== listState || list.offset !== listOffset) return; // an answer for a tab or page left meanwhile
  fill('task-table', list.tasks.map((t) => {
    const tr = row('task-row', [t.uuid, t.taskName, t.status, t.priority, t.attempt, time(t.createdAt), time(t.startedAt), time(t.finishedAt)]);
    tr.dataset.uuid = t.uuid;
    tr.tabIndex = 0;
    if (t.uuid === selectedUuid) tr.classList.add('selected');
    return tr;
  }), 8);
  byId('malformed').hidden = list.malformed.length === 0;
  fill('malformed', list.malformed.map((m) => row('malformed-row', [m.uuid, m.reason])), 2);
  shownList = list;
  renderListNote();
}

/**
 * Says which part of its state's tasks the list shows when it is one page of more, or a sample,
 * or found by a scan; and offers the pages before and after it.
 */
function renderListNote() {
  const current = shownList && shownList.state === listState && shownList.offset === listOffset ? shownList : null;
  const notes = [];
  if (current && !current.complete) {
    notes.push('A sample, not the newest: without keepFinishedTasks the records are scanned, and the scan stopped at its budget.');
  }
  const paged = current !== null && (current.offset > 0 || current.nextOffset !== null);
  if (paged) {
    const total = latestCounts ? ' of ' + latestCounts[listState] : '';
    const shown = current.tasks.length;
    notes.push(shown === 0
      ? 'No ' + listState + ' tasks from position ' + (current.offset + 1) + total + '.'
      : 'Tasks ' + (current.offset + 1) + '\u2013' + (current.offset + shown) + total + ' ' + listState + '.');
  }
  if (current && current.scannedAt) {
    notes.push('Found by a scan of the stored records at ' + time(current.scannedAt) +
      ' (no keepFinishedTasks index): tasks finished since then show at the next scan.');
  }
  setText(byId('list-note'), notes.join(' '));
  byId('pager').hidden = !paged;
  byId('page-previous').disabled = !paged || current.offset === 0;
  byId('page-next').disabled = !paged || current.nextOffset === null;
}

const DETAIL_FIELDS = [
  ['uuid', (t) => t.uuid], ['task', (t) => t.taskName], ['status', (t) => t.status],
  ['priority', (t) => t.priority], ['attempt', (t) => t.attempt], ['stalls', (t) => t.stalls],
  ['worker', (t) => t.worker], ['created', (t) => time(t.createdAt)], ['run at', (t) => time(t.runAt)],
  ['started', (t) => time(t.startedAt)], ['finished', (t) => time(t.finishedAt)],
  ['cancel reason', (t) => t.cancelReason, 'detail-cancel-reason'],
];
const DETAIL_BLOCKS = [
  ['detail-args', (t) => json(t.args)],
  ['detail-result', (t) => json(t.returning)],
  ['detail-progress', (t) => json(t.progress)],
  ['detail-traceback', (t) => t.traceback ?? ''],
  ['detail-errors', (t) => (t.errors ?? []).join('\n\n')],
];

/** The task's fields, or none (task null) beside why it cannot be shown: never an older record's. */
function renderDetail(task, problem) {
  setText(byId('detail-error'), problem || '');
  replaceIfChanged(byId('detail-fields'), task === null ? [] : DETAIL_FIELDS.flatMap(([label, read, testId]) => {
    const value = read(task);
    if (value === undefined || value === null || value === '') return [];
    return [el('dt', null, label), el('dd', testId ? { testid: testId } : null, value)];
  }));
  for (const [testId, read] of DETAIL_BLOCKS) {
    const text = task === null ? '' : read(task);
    setText(byId(testId), text);
    byId(testId).closest('div').hidden = text === '';
  }
}

/** The detail read under way: a poll meeting a click's read of the same task waits for it instead of reading again. */
let detailRead = null;

function refreshDetail() {
  if (selectedUuid === null) return Promise.resolve();
  if (detailRead && detailRead.uuid === selectedUuid) return detailRead.done;
  const uuid = selectedUuid;
  const done = readDetail(uuid).finally(() => {
    if (detailRead && detailRead.done === done) detailRead = null;
  });
  detailRead = { uuid, done };
  return done;
}

async function readDetail(uuid) {
  // A finished record changes only when requeued: asked with the version shown, the server
  // answers 304 (no record) until then, rather than the whole record at every refresh.
  const shown = shownDetail && shownDetail.uuid === uuid && shownDetail.etag ? { 'if-none-match': shownDetail.etag } : {};
  try {
    const { body, etag } = await fetchApi('api/tasks/' + encodeURIComponent(uuid), shown);
    if (uuid !== selectedUuid || body === null) return;
    shownDetail = { uuid, etag };
    renderDetail(body);
  } catch (error) {
    if (uuid !== selectedUuid) return;
    shownDetail = null;
    renderDetail(null, error.message);
  }
}

function selectTask(uuid) {
  selectedUuid = uuid;
  byId('task-detail').hidden = false;
  for (const tr of byId('task-table').querySelectorAll('tr[data-uuid]')) tr.classList.toggle('selected', tr.dataset.uuid === uuid);
  void refreshDetail();
}

async function refreshList() {
  renderList(await getJson('api/tasks?state=' + listState + '&limit=' + LIST_LIMIT + '&offset=' + listOffset));
}

/** Shows the page of the list at offset, at once rather than at the next refresh. */
function showPage(offset) {
  listOffset = offset;
  byId('task-table').tBodies[0].replaceChildren();
  renderListNote();
  refreshList().catch(showError);
}

function markTab(state) {
  listState = state;
  for (const tab of byId('tabs').querySelectorAll('button')) tab.setAttribute('aria-selected', String(tab.dataset.state === state));
}

function selectTab(state) {
  markTab(state);
  showPage(0);
}

async function poll() {
  try {
    const [overview] = await Promise.all([getJson('api/overview'), refreshList(), refreshDetail()]);
    renderOverview(overview);
    byId('updated').textContent = 'updated ' + time(Date.now());
    clearError();
  } catch (error) {
    showError(error);
  } finally {
    setTimeout(poll, refreshMs);
  }
}

byId('tabs').addEventListener('click', (event) => {
  const tab = event.target.closest('button[data-state]');
  if (tab) selectTab(tab.dataset.state);
});
const taskTable = byId('task-table');
taskTable.addEventListener('click', (event) => {
  const tr = event.target.closest('tr[data-uuid]');
  if (tr) selectTask(tr.dataset.uuid);
});
taskTable.addEventListener('keydown', (event) => {
  const tr = event.target.closest('tr[data-uuid]');
  if (tr && event.key === 'Enter') selectTask(tr.dataset.uuid);
});
byId('page-next').addEventListener('click', () => {
  if (shownList && shownList.nextOffset !== null) showPage(shownList.nextOffset);
});
byId('page-previous').addEventListener('click', () => showPage(Math.max(0, listOffset - LIST_LIMIT)));
byId('detail-close').addEventListener('click', () => {
  selectedUuid = null;
  byId('task-detail').hidden = true;
});
markTab(listState);
poll();
`;
