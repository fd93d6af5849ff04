import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { Injectable } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { Redis } from 'ioredis';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { InvalidOptionError, QTasksModule, QTasksRootHooks, QueueTasks, RedisStorage, Task, WebView, WebViewStartError, type QueueOverview, type TaskList, type TaskRecord, type TaskState, type WebViewOptions } from '../../lib/index.js';
import { Gate } from '../helpers/gate.js';
import { uniqueAppName } from '../helpers/names.js';
import { startNestApp } from '../helpers/nest-app.js';
import { plainApps } from '../helpers/plain-app.js';
import { freePort, startRedisServer } from '../helpers/redis-server.js';

const CHROMIUM = {
  executablePath: '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
};
/** Markup in user data: shown as text, it creates no element and runs nothing. */
const MARKUP = '<img src=x onerror="window.__injected=1"><script>window.__injected=2</script>';
const WAIT = { timeout: 10_000 };
/** The status a task shows in each state's list. */
const STATUS_IN: Record<TaskState, string> = { queued: 'new', delayed: 'new', running: 'process', success: 'success', error: 'error', cancel: 'cancel' };

const testId = (id: string) => `[data-testid="${id}"]`;

/** A GET through node:http, which (unlike fetch) lets a test set the Host header. */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    request(url, { headers: { host } }, (response) => {
      response.resume();
      resolve(response.statusCode!);
    })
      .on('error', reject)
      .end();
  });
}

/** A request to the overview with this login and X-Forwarded-For; resolves with its status. */
function loginStatus(webView: WebView): (credentials: string, forwardedFor?: string) => Promise<number> {
  return async (credentials, forwardedFor) => {
    const headers: Record<string, string> = { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` };
    if (forwardedFor !== undefined) headers['x-forwarded-for'] = forwardedFor;
    return (await fetch(`${webView.address}/api/overview`, { headers })).status;
  };
}

describe('the WebView dashboard', () => {
  const redisUrl = inject('redisUrl');
  const apps = plainApps(redisUrl);
  const views: WebView[] = [];
  const pages: Page[] = [];
  const gate = new Gate();
  let browser: Browser;
  let worker: QueueTasks;
  let view: WebView;
  let expected: Record<TaskState, TaskRecord[]>;
  let echoed: TaskRecord;

  async function startView(options: WebViewOptions): Promise<WebView> {
    const started = new WebView(options);
    views.push(started);
    await started.start();
    return started;
  }
  /** Login statuses of a dashboard behind `trustedProxies`, which locks a client out after 2 wrong logins. */
  async function loginStatusBehind(trustedProxies: string[]) {
    return loginStatus(await startView({ name: worker.name, url: redisUrl, port: 0, trustedProxies, auth: { user: 'ops', password: 'secret', maxFailures: 2 } }));
  }


  async function openPage(webView: WebView): Promise<Page> {
    const page = await browser.newPage();
    pages.push(page);
    page.setDefaultTimeout(WAIT.timeout);
    await page.goto(webView.address!);
    return page;
  }

  const text = (page: Page, id: string) => page.locator(testId(id)).first().textContent();
  const rowUuids = (page: Page) =>
    page.locator(testId('task-row')).evaluateAll((rows) => rows.map((row) => row.getAttribute('data-uuid')));
  const api = async <T>(path: string) => {
    const response = await fetch(`${view.address}${path}`);
    return { status: response.status, body: (await response.json()) as T };
  };

  beforeAll(async () => {
    browser = await chromium.launch(CHROMIUM);
    worker = await apps.start(
      '<i>webview</i>',
      (app) => {
        app.task('double', (x: number) => x * 2);
        app.task(MARKUP, (given: string) => given);
        app.task('boom', () => {
          throw new TypeError('bad input');
        });
        app.task('hold', () => gate.pass());
      },
      // Heartbeats (with the running count) twice a second.
      { config: { maxTasksProcess: 1, globalConfigStatusTtlMs: 1_000 } },
    );
    const success = await Promise.all([1, 2, 3].map((x) => worker.run('double', [x])));
    echoed = await worker.run(MARKUP, [MARKUP]);
    const error = [await worker.run('boom')];
    const running = [await worker.add('hold')];
    await gate.reached;
    // The only slot is held: these wait in the queue.
    const queued = [await worker.add('double', [10]), await worker.add('double', [11])];
    const delayed = [await worker.add('double', [12], { delay: 600_000 })];
    const dropped = await worker.add('double', [13], { delay: 600_000 });
    const cancel = [await worker.cancel(dropped.uuid, 'no longer needed')];
    expected = { queued, delayed, running, success: [...success, echoed], error, cancel };
    view = await startView({ name: worker.name, url: redisUrl, port: 0, refreshMs: 200 });
  });

  afterEach(async () => {
    await Promise.all(pages.splice(0).map((page) => page.close()));
  });

  afterAll(async () => {
    gate.open();
    await Promise.all(views.splice(0).map((started) => started.stop()));
    await browser?.close();
    await apps.stopAll();
  });

  it('shows the tasks held back by a rate limit or a pause, and each task\'s limit in the catalogue', async () => {
    const limited = await apps.start('webview-rate', (app) => app.task({ name: 'mail', rateLimit: { max: 1, windowMs: 600_000 } }, () => 'sent'));
    const [first] = [await limited.add('mail'), await limited.add('mail'), await limited.add('mail')];
    await limited.wait(first.uuid, WAIT);
    const page = await openPage(await startView({ name: limited.name, url: redisUrl, port: 0, refreshMs: 200 }));
    await expect.poll(() => page.locator(`${testId('waiting-line-row')} td`).allTextContents(), WAIT).toEqual(['mail', '2', expect.stringMatching(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(rate limit\)$/)]);
    expect(await text(page, 'count-queued')).toBe('2');
    expect(await page.locator(`${testId('catalog-row')} td`).nth(2).textContent()).toBe('1 per 600000 ms');
    expect(await page.locator(testId('paused')).isHidden()).toBe(true);

    await limited.pause('mail');
    await expect.poll(() => page.locator(`${testId('waiting-line-row')} td`).allTextContents(), WAIT).toEqual(['mail', '2', 'resumed']);
    expect(await text(page, 'paused')).toBe('Paused tasks: mail.');
    await limited.pause();
    await expect.poll(() => text(page, 'paused'), WAIT).toBe('Paused: no task starts until the queue is resumed. Paused tasks: mail.');
  });

  it('shows the tasks waiting for a running slot, and each task\'s maxRunning in the catalogue', async () => {
    const held = new Gate();
    const app = await apps.start('webview-running', (queue) => queue.task({ name: 'export', maxRunning: 1 }, () => held.pass()));
    await app.add('export');
    await app.add('export');
    await held.reached;
    try {
      const page = await openPage(await startView({ name: app.name, url: redisUrl, port: 0, refreshMs: 200 }));
      await expect.poll(() => page.locator(`${testId('waiting-line-row')} td`).allTextContents(), WAIT).toEqual(['export', '1', 'a running slot (1 running)']);
      expect(await page.locator(`${testId('catalog-row')} td`).nth(3).textContent()).toBe('1');
    } finally {
      held.open();
    }
  });

  it('shows the app, the counts per state with finished tasks/s, the queues, the worker and the catalogue', async () => {
    const page = await openPage(view);
    const counts = { queued: '2', delayed: '1', running: '1', success: '4', error: '1', cancel: '1' };
    await expect.poll(async () => {
      const shown: Record<string, string | null> = {};
      for (const state of Object.keys(counts)) shown[state] = await text(page, `count-${state}`);
      return shown;
    }, WAIT).toEqual(counts);
    expect(await text(page, 'app-name')).toBe(worker.name);
    expect(await page.title()).toContain(worker.name);
    await expect.poll(() => text(page, 'rate-total'), WAIT).toMatch(/^\d+\.\d$/);
    expect(await text(page, 'rate-success')).toMatch(/^\d+\.\d\/s$/);

    expect(await page.locator(testId('queue-row')).allTextContents()).toEqual(['02']);
    const workerRows = page.locator(testId('worker-row'));
    expect(await workerRows.count()).toBe(1);
    expect(await workerRows.first().textContent()).toContain(String(process.pid));
    await expect.poll(() => text(page, 'worker-running'), WAIT).toBe('1/1');
    const catalog = await page.locator(`${testId('catalog-row')} td:first-child`).allTextContents();
    expect(catalog.sort()).toEqual([MARKUP, 'boom', 'double', 'hold'].sort());
    expect(await page.locator(testId('error-banner')).isHidden()).toBe(true);
  });

  it('lists each state\'s tasks in its tab, queued ones in the order they will run', async () => {
    const page = await openPage(view);
    for (const state of ['queued', 'delayed', 'running', 'success', 'error', 'cancel'] as const) {
      await page.click(testId(`tab-${state}`));
      const uuids = expected[state].map(({ uuid }) => uuid);
      // Queued tasks are listed in the order they will run; finished ones newest first.
      const ordered = state === 'queued' ? uuids : [...uuids].sort();
      await expect.poll(async () => (state === 'queued' ? await rowUuids(page) : (await rowUuids(page)).sort()), WAIT).toEqual(ordered);
      const statuses = await page.locator(`${testId('task-row')} td:nth-child(3)`).allTextContents();
      expect(new Set(statuses)).toEqual(new Set([STATUS_IN[state]]));
      // This app keeps no index of finished tasks: they are found by a scan, reused a while.
      const scanned = ['success', 'error', 'cancel'].includes(state);
      await expect.poll(async () => (await text(page, 'list-note'))!.includes('Found by a scan of the stored records at '), WAIT).toBe(scanned);
    }
  });

  it('shows a clicked task: its result, its traceback, its cancel reason', async () => {
    const page = await openPage(view);
    await page.click(testId('tab-success'));
    const first = expected.success[0]!;
    await page.click(`tr[data-uuid="${first.uuid}"]`);
    await expect.poll(() => text(page, 'detail-result'), WAIT).toBe('2');
    expect(await text(page, 'detail-args')).toBe(JSON.stringify([1], null, 2));

    await page.click(testId('tab-error'));
    await page.click(`tr[data-uuid="${expected.error[0]!.uuid}"]`);
    await expect.poll(() => text(page, 'detail-traceback'), WAIT).toContain('TypeError: bad input');
    expect(await page.locator(testId('detail-result')).isVisible()).toBe(false);

    await page.click(testId('tab-cancel'));
    await page.click(`tr[data-uuid="${expected.cancel[0]!.uuid}"]`);
    await expect.poll(() => text(page, 'detail-cancel-reason'), WAIT).toBe('no longer needed');
  });

  it('keeps a text selection in the task list and in a shown task across refreshes, so a uuid or traceback can be copied', async () => {
    const page = await openPage(view);
    let polls = 0;
    page.on('request', (request) => {
      if (request.url().endsWith('/api/overview')) polls++;
    });
    const pollsGoBy = async (count: number) => {
      const from = polls;
      await expect.poll(() => polls, WAIT).toBeGreaterThanOrEqual(from + count);
    };
    // Page code as text: these tests compile without the DOM's types.
    const select = (selector: string) => page.evaluate(`getSelection().selectAllChildren(document.querySelector(${JSON.stringify(selector)}))`);
    const selected = () => page.evaluate<string>('getSelection().toString()');
    const failed = expected.error[0]!;
    await page.click(testId('tab-error'));
    await page.click(`tr[data-uuid="${failed.uuid}"]`);
    await expect.poll(() => text(page, 'detail-traceback'), WAIT).toContain('TypeError: bad input');

    await select(testId('detail-traceback'));
    await pollsGoBy(3);
    expect(await selected()).toContain('TypeError: bad input');
    await select(`tr[data-uuid="${failed.uuid}"] td`);
    await pollsGoBy(3);
    expect(await selected()).toBe(failed.uuid);
  });

  it('pages through every task of a state, 100 at a time, with next and previous, saying which ones it shows', async () => {
    const producer = await apps.start('webview-long', (app) => app.task('job', () => undefined), { worker: false });
    const added = (await producer.addBulk(Array.from({ length: 250 }, (_, index) => ({ name: 'job', args: [index] })))).map(({ uuid }) => uuid);
    const page = await openPage(await startView({ name: producer.name, url: redisUrl, port: 0, refreshMs: 200 }));
    const shows = async (from: number, to: number) => {
      await expect.poll(() => text(page, 'list-note'), WAIT).toBe(`Tasks ${from}\u2013${to} of 250 queued.`);
      await expect.poll(() => rowUuids(page), WAIT).toEqual(added.slice(from - 1, to));
    };
    await shows(1, 100);
    expect(await page.locator(testId('page-previous')).isDisabled()).toBe(true);
    await page.click(testId('page-next'));
    await shows(101, 200);
    await page.click(testId('page-next'));
    await shows(201, 250);
    expect(await page.locator(testId('page-next')).isDisabled()).toBe(true);
    await page.click(testId('page-previous'));
    await shows(101, 200);
    // Another tab starts at its first page; one page of tasks needs no pager.
    await page.click(testId('tab-delayed'));
    await expect.poll(() => text(page, 'list-note'), WAIT).toBe('');
    expect(await page.locator(testId('pager')).isHidden()).toBe(true);
  });

  it('shows markup in the app name, task names, arguments and results as text: it creates no element and runs nothing', async () => {
    const page = await openPage(view);
    await page.click(testId('tab-success'));
    await page.click(`tr[data-uuid="${echoed.uuid}"]`);
    await expect.poll(() => text(page, 'detail-result'), WAIT).toBe(JSON.stringify(MARKUP, null, 2));
    expect(await text(page, 'detail-args')).toBe(JSON.stringify([MARKUP], null, 2));
    expect(await page.locator(`tr[data-uuid="${echoed.uuid}"] td:nth-child(2)`).textContent()).toBe(MARKUP);
    expect(await text(page, 'app-name')).toBe(worker.name);
    expect(await page.locator('img, i, script').count()).toBe(1); // the page's own script
    expect(await page.evaluate('window.__injected')).toBeUndefined();
  });

  it('answers JSON: the overview and lists; 400 for a bad state or limit, 404 for an unknown task or path, 405 for writes', async () => {
    const overview = await api<QueueOverview>('/api/overview');
    expect(overview.status).toBe(200);
    expect(overview.body).toMatchObject({ app: worker.name, counts: { queued: 2, delayed: 1, running: 1, success: 4, error: 1, cancel: 1 } });
    const list = await api<TaskList>('/api/tasks?state=error&limit=5');
    expect(list.body.tasks.map(({ uuid }) => uuid)).toEqual([expected.error[0]!.uuid]);
    // A list carries what its rows show, not each task's arguments, result or traceback.
    const success = await api<TaskList>('/api/tasks?state=success');
    for (const task of [...list.body.tasks, ...success.body.tasks]) {
      expect(Object.keys(task).sort()).toEqual(['attempt', 'createdAt', 'finishedAt', 'priority', 'stalls', 'startedAt', 'status', 'taskName', 'updatedAt', 'uuid', 'worker']);
    }
    expect((await api<TaskRecord>(`/api/tasks/${echoed.uuid}`)).body).toMatchObject({ status: 'success', returning: MARKUP });

    const badState = await api<{ error: { code: string; message: string } }>('/api/tasks?state=finished');
    expect(badState.status).toBe(400);
    expect(badState.body.error).toMatchObject({ code: 'INVALID_OPTION', message: expect.stringContaining('Unknown task state "finished"') });
    for (const limit of ['0', 'ten', '1.5', '100000']) {
      const badLimit = await api<{ error: { message: string } }>(`/api/tasks?state=queued&limit=${limit}`);
      expect(badLimit.status).toBe(400);
      expect(badLimit.body.error.message).toContain('limit must be');
    }
    for (const offset of ['-1', 'one', '1e3', '99999999999999999999']) {
      const badOffset = await api<{ error: { message: string } }>(`/api/tasks?state=queued&offset=${offset}`);
      expect(badOffset.status).toBe(400);
      expect(badOffset.body.error.message).toBe(`offset must be a whole number from 0 to 9007199254740991, got "${offset}".`);
    }
    const secondPage = await api<TaskList>('/api/tasks?state=success&limit=3&offset=3');
    expect(secondPage.body).toMatchObject({ offset: 3, nextOffset: null, tasks: [expect.objectContaining({ status: 'success' })] });
    const unknown = await api<{ error: { code: string } }>('/api/tasks/00000000-0000-0000-0000-000000000000');
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('TASK_NOT_FOUND');
    expect((await api('/api/nothing')).status).toBe(404);
    expect((await api('/api/tasks/%E0%A4%A')).status).toBe(400);
    const write = await fetch(`${view.address}/api/tasks/${echoed.uuid}`, { method: 'DELETE' });
    expect(write.status).toBe(405);
    expect(write.headers.get('allow')).toBe('GET, HEAD');
    expect((await api<TaskRecord>(`/api/tasks/${echoed.uuid}`)).status).toBe(200);
  });

  it('serves the page with a content security policy, and refuses requests addressed to another host name', async () => {
    const page = await fetch(view.address!);
    expect(page.headers.get('content-type')).toContain('text/html');
    expect(page.headers.get('content-security-policy')).toMatch(/script-src 'sha256-/);
    expect(await getWithHost(`${view.address}/api/overview`, 'attacker.example:80')).toBe(403);
    expect(await getWithHost(`${view.address}/api/overview`, `localhost:${new URL(view.address!).port}`)).toBe(200);
  });

  it('off loopback, answers requests addressed by an IP address, localhost, this host name or an allowed name, and refuses others', async () => {
    const open = await startView({ name: worker.name, url: redisUrl, port: 0, host: '0.0.0.0', allowedHosts: ['tasks.example.com'] });
    const port = new URL(open.address!).port;
    const url = `http://127.0.0.1:${port}/api/overview`;
    expect(await getWithHost(url, `attacker.example:${port}`)).toBe(403);
    for (const host of [`127.0.0.1:${port}`, `192.0.2.7:${port}`, `[::1]:${port}`, `localhost:${port}`, `${hostname()}:${port}`, 'TASKS.example.com']) {
      expect(await getWithHost(url, host)).toBe(200);
    }
    const loopback = await startView({ name: worker.name, url: redisUrl, port: 0, allowedHosts: ['tasks.example.com', 'fd00::1'] });
    expect(await getWithHost(`${loopback.address}/api/overview`, 'tasks.example.com')).toBe(200);
    expect(await getWithHost(`${loopback.address}/api/overview`, '192.0.2.7')).toBe(403);
    // An IPv6 address allowed as written bare matches the bracketed one of a Host header.
    expect(await getWithHost(`${loopback.address}/api/overview`, '[fd00::1]:8180')).toBe(200);
  });

  it('asks every request for the user and password given as auth; a browser given them shows the page', async () => {
    const login = { user: 'ops', password: 'pa:ss' };
    const guarded = await startView({ name: worker.name, url: redisUrl, port: 0, refreshMs: 200, auth: login });
    const basic = (credentials: string) => ({ authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
    const status = async (path: string, headers: Record<string, string>, method = 'GET') =>
      (await fetch(`${guarded.address}${path}`, { headers, method })).status;
    const refused = await fetch(guarded.address!);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    expect(await refused.text()).not.toContain('<script');
    expect(await status('/api/overview', {})).toBe(401);
    expect(await status('/api/overview', basic('ops:wrong'))).toBe(401);
    expect(await status('/api/overview', basic('ops:pa:ss'))).toBe(200);
    expect(await status(`/api/tasks/${echoed.uuid}`, {}, 'DELETE')).toBe(401);
    // A page under a foreign host name (DNS rebinding) gets the refusal, not a login prompt.
    expect(await getWithHost(`${guarded.address}/api/overview`, 'attacker.example:80')).toBe(403);

    const context = await browser.newContext({ httpCredentials: { username: 'ops', password: 'pa:ss' } });
    try {
      const page = await context.newPage();
      await page.goto(guarded.address!);
      await expect.poll(() => text(page, 'count-error'), WAIT).toBe('1');
      expect(await page.locator(testId('error-banner')).isHidden()).toBe(true);
    } finally {
      await context.close();
    }
  });

  it('answers 429 with Retry-After to an address after failed logins in a row, and takes the login again after the pause', async () => {
    const guarded = await startView({ name: worker.name, url: redisUrl, port: 0, auth: { user: 'ops', password: 'secret', maxFailures: 3, lockoutMs: 1_500 } });
    const basic = (credentials: string) => ({ authorization: `Basic ${Buffer.from(credentials).toString('base64')}` });
    const overview = (credentials?: string) => fetch(`${guarded.address}/api/overview`, { headers: credentials ? basic(credentials) : {} });
    // A request with no login (a browser's first) is no failure; a success clears the count.
    for (const credentials of [undefined, undefined, 'ops:wrong', 'ops:wrong']) expect((await overview(credentials)).status).toBe(401);
    expect((await overview('ops:secret')).status).toBe(200);
    for (let attempt = 1; attempt <= 3; attempt++) expect((await overview('ops:guess')).status).toBe(401);

    const refused = await overview('ops:secret');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('retry-after')).toBe('2');
    expect(await refused.json()).toEqual({ error: { code: 'TOO_MANY_LOGINS', message: expect.stringContaining('try again in 2 s') } });
    expect((await fetch(guarded.address!)).status).toBe(429);
    await expect.poll(async () => (await overview('ops:secret')).status, { timeout: 10_000, interval: 250 }).toBe(200);
    for (const auth of [{ user: 'ops', password: 'x', maxFailures: 0 }, { user: 'ops', password: 'x', lockoutMs: 1.5 }]) {
      expect(() => new WebView({ name: worker.name, url: redisUrl, auth })).toThrow(InvalidOptionError);
    }
  });

  it('behind a trusted proxy, counts failed logins per client its X-Forwarded-For names, by the right-most entry', async () => {
    // The test's requests come from 127.0.0.1: here, the proxy.
    const status = await loginStatusBehind(['127.0.0.1']);
    for (let attempt = 1; attempt <= 2; attempt++) expect(await status('ops:guess', '203.0.113.1')).toBe(401);
    expect(await status('ops:secret', '203.0.113.1')).toBe(429);
    // Another client behind the same proxy keeps its own count.
    expect(await status('ops:secret', '203.0.113.2')).toBe(200);
    // A client writes what it likes left of its own address: a forged entry does not free it.
    expect(await status('ops:secret', '198.51.100.7, 203.0.113.1')).toBe(429);
    // The proxy's own address appended by a second hop through it is skipped.
    expect(await status('ops:secret', '198.51.100.7, 203.0.113.1, 127.0.0.1')).toBe(429);
    // A forwarded IPv6 client is its /64, as a peer would be.
    for (let attempt = 1; attempt <= 2; attempt++) expect(await status('ops:guess', '2001:db8:1:2::1')).toBe(401);
    expect(await status('ops:secret', '2001:db8:1:2::99')).toBe(429);
    // A malformed header, or none, is counted for the proxy itself.
    for (const forwardedFor of ['unknown', '203.0.113.2, 203.0.113.1/24']) expect(await status('ops:guess', forwardedFor)).toBe(401);
    expect(await status('ops:secret')).toBe(429);
    expect(await status('ops:secret', '203.0.113.2')).toBe(200);
    // An entry with the client's port, as some proxies write it, counts for the client, not the proxy.
    expect(await status('ops:secret', '203.0.113.2:5678')).toBe(200);
  });

  it('trusts every proxy in a CIDR range of trustedProxies, and counts the clients behind them apart', async () => {
    // The test's requests come from 127.0.0.1: here, one proxy of a pool in 127.0.0.0/8.
    const status = await loginStatusBehind(['127.0.0.0/8']);
    for (let attempt = 1; attempt <= 2; attempt++) expect(await status('ops:guess', '203.0.113.1')).toBe(401);
    expect(await status('ops:secret', '203.0.113.1')).toBe(429);
    expect(await status('ops:secret', '203.0.113.2')).toBe(200);
    // Another proxy of the pool on the way is skipped as well.
    expect(await status('ops:secret', '203.0.113.1, 127.0.0.9')).toBe(429);
    expect(await status('ops:secret', '203.0.113.2, 127.0.0.9')).toBe(200);
  });

  it('ignores X-Forwarded-For from a peer that is no trusted proxy, and refuses trustedProxies that are no IP addresses', async () => {
    const status = await loginStatusBehind(['192.0.2.1', '::ffff:192.0.2.2']);
    expect(await status('ops:guess', '203.0.113.1')).toBe(401);
    expect(await status('ops:guess', '203.0.113.2')).toBe(401);
    expect(await status('ops:secret', '203.0.113.3')).toBe(429);
    for (const trustedProxies of [['10.0.0.1', 'proxy.example'], '10.0.0.1'] as string[][]) {
      expect(() => new WebView({ name: worker.name, url: redisUrl, trustedProxies })).toThrow(InvalidOptionError);
    }
    expect(() => new WebView({ name: worker.name, url: redisUrl, trustedProxies: ['10.0.0.1', 'proxy.example'] })).toThrow('got "proxy.example"');
  });

  it('warns when it listens beyond loopback with no auth, and refuses when built an auth lacking a user or password, or a port or host it cannot listen on, or an allowedHosts entry that is no host name', async () => {
    const warnings: string[] = [];
    const logger = { log: () => undefined, error: () => undefined, warn: (message: string) => warnings.push(message) };
    await startView({ name: worker.name, url: redisUrl, port: 0, logger });
    await startView({ name: worker.name, url: redisUrl, port: 0, host: '0.0.0.0', auth: { user: 'ops', password: 'secret' }, logger });
    expect(warnings).toEqual([]);
    const open = await startView({ name: worker.name, url: redisUrl, port: 0, host: '0.0.0.0', logger });
    expect(warnings).toEqual([expect.stringContaining(`${open.address} listens beyond this machine with no auth`)]);
    for (const auth of [{ user: '', password: 'x' }, { user: 'a:b', password: 'x' }, { user: 'ops', password: '' }]) {
      expect(() => new WebView({ name: worker.name, url: redisUrl, auth })).toThrow(InvalidOptionError);
    }
    // Refused when built, not when it listens.
    for (const port of [70_000, -1, 80.5]) {
      expect(() => new WebView({ name: worker.name, url: redisUrl, port })).toThrow(new InvalidOptionError(`WebView port must be a whole number from 0 to 65535, got ${port}.`));
    }
    // '' would listen on every interface; the others cannot be listened on.
    for (const host of ['', 'a b', '[::1]', '127.0.0.1:8180', 'http://tasks.example.com', 7] as string[]) {
      expect(() => new WebView({ name: worker.name, url: redisUrl, host })).toThrow(new InvalidOptionError(`WebView host must be an IP address or a host name, got ${JSON.stringify(host)}.`));
    }
    for (const host of ['localhost', '0.0.0.0', '::', 'fe80::1%lo', 'tasks_web.internal.']) views.push(new WebView({ name: worker.name, url: redisUrl, host }));
    // An entry that is a URL or carries a login would be read as another name ("http", "ops"); a
    // wildcard would be taken as itself; a short or hex IPv4 address as another (10.0.0.5, 127.0.0.1).
    for (const entry of ['http://tasks.example.com', 'ops@tasks.example.com', 'tasks.example.com/dashboard', 'tasks.example.com\\dashboard', 'tasks.example.com?x', '*.example.com', '10.0.5', '0x7f.1']) {
      expect(() => new WebView({ name: worker.name, url: redisUrl, allowedHosts: [entry] })).toThrow(
        new InvalidOptionError(`WebView allowedHosts must hold host names, got ${JSON.stringify(entry)}.`),
      );
    }
    views.push(new WebView({ name: worker.name, url: redisUrl, allowedHosts: ['tasks.example.com:8443', '[fd00::1]:8180', '10.0.0.5', '10.0.0.6:8180'] }));
  });

  it('starts one server when start is called again before the first call is done', async () => {
    // A fixed port, so that a second server would fail to listen; one found free may be taken by
    // a parallel test file before the view listens on it: then another is tried.
    let twice!: WebView;
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      twice = new WebView({ name: worker.name, url: redisUrl, port });
      views.push(twice);
      const started = await Promise.all([twice.start(), twice.start()]).then(
        () => true,
        (error: unknown) => {
          if (attempt >= 3 || !String(error).includes('EADDRINUSE')) throw error;
          return false;
        },
      );
      if (started) break;
      await twice.stop();
    }
    expect(twice.address).toBe(`http://127.0.0.1:${port}`);
    await twice.stop();
    await expect(fetch(`http://127.0.0.1:${port}`)).rejects.toThrow();
  });

  it('cuts a table cell of a huge value short, saying how much is left out', async () => {
    const producer = await apps.start('webview-huge', (app) => app.task('job', () => undefined), { worker: false });
    await producer.globalConfig!.set('huge', 'x'.repeat(100_000));
    const page = await openPage(await startView({ name: producer.name, url: redisUrl, port: 0, refreshMs: 200 }));
    const shown = `"${'x'.repeat(499)}\u2026 (99502 more characters)`;
    await expect.poll(() => page.locator(`${testId('setting-row')} td`).allTextContents(), WAIT).toEqual(['huge', shown]);
  });

  it('reads a shown finished task in full once, then is told it is unchanged at each refresh, until a requeue changes it', async () => {
    let fixed = false;
    const app = await apps.start('webview-etag', (queue) => queue.task('flaky', () => {
      if (!fixed) throw new Error('not yet');
      return 'done';
    }));
    const failed = await app.run('flaky', [], { timeout: 15_000 });
    const shownView = await startView({ name: app.name, url: redisUrl, port: 0, refreshMs: 200 });
    const page = await openPage(shownView);
    const statuses: number[] = [];
    page.on('response', (response) => {
      if (response.url().endsWith(`/api/tasks/${failed.uuid}`)) statuses.push(response.status());
    });
    await page.click(testId('tab-error'));
    await page.click(`tr[data-uuid="${failed.uuid}"]`);
    await expect.poll(() => text(page, 'detail-traceback'), WAIT).toContain('Error: not yet');
    await expect.poll(() => statuses.length, WAIT).toBeGreaterThanOrEqual(4);
    expect(statuses[0]).toBe(200);
    expect(new Set(statuses.slice(1))).toEqual(new Set([304]));
    const { headers } = await fetch(`${shownView.address}/api/tasks/${failed.uuid}`);
    const failedVersion = headers.get('etag')!;

    fixed = true;
    await app.requeue(failed.uuid);
    expect(await app.wait(failed.uuid, { timeout: 15_000 })).toMatchObject({ status: 'success' });
    await expect.poll(() => text(page, 'detail-result'), WAIT).toBe(JSON.stringify('done'));
    expect(await page.locator(testId('detail-traceback')).isVisible()).toBe(false);
    const again = await fetch(`${shownView.address}/api/tasks/${failed.uuid}`, { headers: { 'if-none-match': failedVersion } });
    expect(again.status).toBe(200);
    expect(again.headers.get('etag')).not.toBe(failedVersion);
  });

  it('answers 304 when If-None-Match lists the version among others, weak or not, or is * for a task that exists', async () => {
    const app = await apps.start('webview-etag-list', (queue) => queue.task('job', () => 'done'));
    const done = await app.run('job', [], { timeout: 15_000 });
    const shownView = await startView({ name: app.name, url: redisUrl, port: 0 });
    const read = (uuid: string, ifNoneMatch: string) => fetch(`${shownView.address}/api/tasks/${uuid}`, { headers: { 'if-none-match': ifNoneMatch } });
    const version = (await fetch(`${shownView.address}/api/tasks/${done.uuid}`)).headers.get('etag')!;
    expect(version).toMatch(/^"success-\d+"$/);
    for (const header of [`"other", ${version}`, `W/${version}`, `"a",W/${version} , "b"`, '*']) {
      const answer = await read(done.uuid, header);
      expect({ header, status: answer.status, etag: answer.headers.get('etag') }).toEqual({ header, status: 304, etag: version });
    }
    expect((await read(done.uuid, '"other", W/"success-1"')).status).toBe(200);
    expect((await read('no-such-task', '*')).status).toBe(404);
  });

  it('clears a shown task\'s fields when the task is gone, beside the reason', async () => {
    const producer = await apps.start('webview-gone', (app) => app.task('job', () => undefined), { worker: false });
    const task = await producer.add('job', ['payload']);
    const page = await openPage(await startView({ name: producer.name, url: redisUrl, port: 0, refreshMs: 200 }));
    await page.click(`tr[data-uuid="${task.uuid}"]`);
    await expect.poll(() => text(page, 'detail-args'), WAIT).toBe(JSON.stringify(['payload'], null, 2));

    const redis = new Redis(redisUrl);
    try {
      await redis.del(`qtasks:{${producer.name}}:t:${task.uuid}`);
    } finally {
      await redis.quit();
    }
    await expect.poll(() => text(page, 'detail-error'), WAIT).toContain(`No task with uuid ${task.uuid}`);
    expect(await text(page, 'detail-fields')).toBe('');
    expect(await page.locator(testId('detail-args')).isVisible()).toBe(false);
  });

  it('serves the overview to a Redis user that may only read, once a heartbeat has expired', async () => {
    const name = uniqueAppName('webview-reader');
    const user = uniqueAppName('reader');
    const redis = new Redis(redisUrl);
    try {
      await redis.acl('SETUSER', user, 'on', '>secret', '~*', '&*', '-@all', '+@read', '+@connection', '+info');
      const gone = { id: 'gone', host: 'h', pid: 1, startedAt: Date.now(), running: 0, maxTasksProcess: 1, tasks: [] };
      await redis.multi().zadd(`qtasks:{${name}}:workers`, Date.now() - 1_000, 'gone').hset(`qtasks:{${name}}:wi`, 'gone', JSON.stringify(gone)).exec();
      const readerUrl = new URL(redisUrl);
      readerUrl.username = user;
      readerUrl.password = 'secret';
      const reader = await startView({ name, url: readerUrl.href, port: 0 });
      const overview = await fetch(`${reader.address}/api/overview`);
      expect(overview.status).toBe(200);
      expect(((await overview.json()) as QueueOverview).workers).toEqual([]);
    } finally {
      await redis.acl('DELUSER', user);
      await redis.quit();
    }
  });

  it('answers 422 for a malformed record, and lists it apart on the page', async () => {
    const name = uniqueAppName('webview-malformed');
    const redis = new Redis(redisUrl);
    try {
      await redis.set(`qtasks:{${name}}:t:broken`, '{"s":"success"');
    } finally {
      await redis.quit();
    }
    const malformed = await startView({ name, url: redisUrl, port: 0, refreshMs: 200 });
    const answer = await fetch(`${malformed.address}/api/tasks/broken`);
    expect(answer.status).toBe(422);
    expect(((await answer.json()) as { error: { code: string } }).error.code).toBe('MALFORMED_RECORD');
    const page = await openPage(malformed);
    await page.click(testId('tab-success'));
    await expect.poll(() => page.locator(`${testId('malformed-row')} td:first-child`).allTextContents(), WAIT).toEqual(['broken']);
  });

  it('names a GlobalConfig key of another Redis type at the top of the page, and shows the rest of the overview', async () => {
    const name = uniqueAppName('webview-bad-key');
    const settings = `qtasks:{${name}}:gc`;
    const redis = new Redis(redisUrl);
    try {
      await redis.set(settings, 'written by hand');
      await redis.hset(`qtasks:{${name}}:catalog`, 'billing', JSON.stringify({ name: 'billing' }));
    } finally {
      await redis.quit();
    }
    const page = await openPage(await startView({ name, url: redisUrl, port: 0, refreshMs: 200 }));
    await expect.poll(() => page.locator(`${testId('unreadable-row')} td`).allTextContents(), WAIT).toEqual([settings, 'the key holds a Redis string, not a hash']);
    expect(await page.locator(testId('catalog-row')).locator('td').first().textContent()).toBe('billing');
    expect(await page.locator(testId('error-banner')).isHidden()).toBe(true);
  });

  it('renders the overview when a heartbeat or catalogue entry written by another version or tool holds a field of another type', async () => {
    const name = uniqueAppName('webview-odd');
    const redis = new Redis(redisUrl);
    try {
      const heartbeat = { id: 'odd', host: 'h', pid: 1, startedAt: 'yesterday', running: 0, maxTasksProcess: 4, tasks: 'send' };
      await redis.multi().zadd(`qtasks:{${name}}:workers`, Date.now() + 600_000, 'odd').hset(`qtasks:{${name}}:wi`, 'odd', JSON.stringify(heartbeat)).exec();
      await redis.hset(`qtasks:{${name}}:catalog`, {
        billing: JSON.stringify({ name: 'billing', tags: 'billing' }),
        report: JSON.stringify({ name: 'report', tags: { team: 'ops' } }),
      });
    } finally {
      await redis.quit();
    }
    const odd = await startView({ name, url: redisUrl, port: 0, refreshMs: 200 });
    const page = await openPage(odd);
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await expect.poll(() => page.locator(`${testId('worker-row')} td`).allTextContents(), WAIT).toEqual(['odd', 'h', '1', '0/4', '', 'send']);
    const catalogue = await page.locator(testId('catalog-row')).evaluateAll((rows) => rows.map((row) => row.children[5]!.textContent));
    expect(catalogue.sort()).toEqual(['billing', '{"team":"ops"}']);
    expect(await text(page, 'app-name')).toBe(name);
    expect(await page.locator(testId('error-banner')).isHidden()).toBe(true);
    expect(pageErrors).toEqual([]);
  });

  it('keeps serving while Redis is down, before or after connecting: the API answers 503, the page shows why, and both recover', async () => {
    const redis = await startRedisServer();
    let down: WebView | undefined;
    try {
      await redis.stop();
      down = await startView({ name: uniqueAppName('webview-down'), url: redis.url, port: 0, refreshMs: 200 });
      const answer = await fetch(`${down.address}/api/overview`);
      expect(answer.status).toBe(503);
      expect(((await answer.json()) as { error: { code: string; message: string } }).error).toMatchObject({
        code: 'REDIS_UNAVAILABLE',
        message: expect.stringContaining('is not reachable'),
      });
      const page = await openPage(down);
      await expect.poll(() => text(page, 'error-banner'), WAIT).toContain('is not reachable');
      expect(await page.locator(testId('error-banner')).isVisible()).toBe(true);

      await redis.restart();
      await expect.poll(() => page.locator(testId('error-banner')).isHidden(), WAIT).toBe(true);
      expect(await text(page, 'count-queued')).toBe('0');
      expect((await fetch(`${down.address}/api/overview`)).status).toBe(200);

      // Lost once connected, Redis is reconnected to in the background.
      await redis.stop();
      await expect.poll(() => text(page, 'error-banner'), WAIT).toContain('is not reachable');
      await redis.restart();
      await expect.poll(() => page.locator(testId('error-banner')).isHidden(), WAIT).toBe(true);
    } finally {
      // Closed while its Redis still runs: ioredis keeps a timer for a socket closed under it.
      await down?.stop();
      await redis.destroy();
    }
  });

  it('answers 503 at once with nothing listening at the Redis address', async () => {
    // Port 1: nothing listens there, and no redis-server of a parallel test file can take it (a port
    // found free could be taken between the check and the first request).
    const nowhere = await startView({ name: uniqueAppName('webview-nowhere'), url: 'redis://127.0.0.1:1', port: 0 });
    const answer = await fetch(`${nowhere.address}/api/tasks?state=queued`);
    expect(answer.status).toBe(503);
    // Bad input is still the caller's error, whatever the state of Redis.
    expect((await fetch(`${nowhere.address}/api/tasks?state=nope`)).status).toBe(400);
    expect((await fetch(nowhere.address!)).status).toBe(200);
  });
});

@Injectable()
class GreetingService {
  @Task()
  greet(name: string): string {
    return `hello ${name}`;
  }
}

describe('QTasksModule with the webview option', () => {
  it('serves the dashboard of the app, injectable as WebView, and stops it when the app closes', async () => {
    const name = uniqueAppName('webview-nest');
    const app = await startNestApp({ name, url: inject('redisUrl'), webview: { port: 0 } }, [GreetingService]);
    let address: string;
    try {
      address = app.get(WebView).address!;
      const overview = (await (await fetch(`${address}/api/overview`)).json()) as QueueOverview;
      expect(overview.app).toBe(name);
      expect(overview.catalog.map((task) => task.name)).toEqual(['greet']);
      expect((await fetch(address)).status).toBe(200);
    } finally {
      await app.close();
    }
    await expect(fetch(address)).rejects.toThrow();
  });

  it('counts failed logins per client behind the proxies its trustedProxies names', async () => {
    const webview = { port: 0, trustedProxies: ['127.0.0.1'], auth: { user: 'ops', password: 'secret', maxFailures: 1 } };
    const app = await startNestApp({ name: uniqueAppName('webview-proxy'), url: inject('redisUrl'), webview }, [GreetingService]);
    try {
      const status = loginStatus(app.get(WebView));
      expect(await status('ops:guess', '203.0.113.1')).toBe(401);
      expect(await status('ops:secret', '203.0.113.1')).toBe(429);
      expect(await status('ops:secret', '203.0.113.2')).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('has no WebView without the option, and refuses one over the memory backend or with no Redis to read', async () => {
    const app = await startNestApp({ backend: 'memory' }, []);
    expect(app.get(WebView)).toBeNull();
    await app.close();
    await expect(startNestApp({ backend: 'memory', webview: {} }, [])).rejects.toThrow(/webview reads tasks from Redis/);
    const storage = new RedisStorage({ name: uniqueAppName('webview-components'), url: inject('redisUrl') });
    await expect(startNestApp({ storage, webview: {} }, [])).rejects.toThrow(/webview needs the Redis to read when broker or storage is passed in/);
    await expect(startNestApp({ url: inject('redisUrl'), webview: { port: 70_000 } }, [])).rejects.toThrow('WebView port must be a whole number from 0 to 65535, got 70000.');
    await storage.stop();
  });

  it.for([
    ['QTasksModule', []],
    ['QTasksRootHooks', [QTasksRootHooks]],
  ] as const)('fails the bootstrap with a WebViewStartError when the port is taken, and leaves no worker nor connection behind (work started by %s)', async ([, rootHooks]) => {
    const url = inject('redisUrl');
    const redis = new Redis(url);
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    const name = uniqueAppName('webview-taken');
    const producer = new QueueTasks({ name, url, worker: false, logger: { log: () => undefined, warn: console.warn, error: console.error } });
    producer.task('greet', () => undefined);
    try {
      const failed = await Test.createTestingModule({
        // Named connections: CLIENT LIST tells whether the failed app left one open.
        imports: [QTasksModule.forRoot({ name, url, redis: { connectionName: name }, webview: { port } })],
        providers: [GreetingService, ...rootHooks],
      }).compile();
      const bootstrap = failed.init();
      await expect(bootstrap).rejects.toThrow(WebViewStartError);
      await expect(bootstrap).rejects.toThrow(`127.0.0.1:${port}: the port is already in use`);

      await producer.start();
      const { uuid } = await producer.add('greet', ['nobody']);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect((await producer.get(uuid))?.status).toBe('new');
      const clients = String(await redis.client('LIST')).split('\n');
      expect(clients.filter((client) => client.includes(` name=${name} `))).toEqual([]);
    } finally {
      await producer.stop();
      redis.disconnect();
      blocker.close();
    }
  });
});
