import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { InvalidOptionError, QTasksError, RedisUnavailableError } from '../core/errors.js';
import { raceTimeout } from '../core/timing.js';
import { API_HELP, apiRead, errorReply, problemReply, type ApiRead, type ApiReply } from './api.js';
import { QueueInspector, type InspectorOptions } from './inspector.js';
import { PAGE_CSP, renderPage } from './page.js';

/** Where the dashboard listens and how its page refreshes. */
export interface WebViewServerOptions {
  /** Default 8180; 0 takes any free port (read `address` after `start()`). */
  port?: number;
  /** Interface to listen on; default 127.0.0.1 (this machine only). */
  host?: string;
  /** How often the page polls, in milliseconds; default 2000. */
  refreshMs?: number;
}

/** The app to show (name and Redis connection, as for QueueInspector) and where to serve it. */
export interface WebViewOptions extends InspectorOptions, WebViewServerOptions {}

export const DEFAULT_WEBVIEW_PORT = 8180;
const DEFAULT_REFRESH_MS = 2000;
/**
 * Longest a request waits for Redis. A connection that fails fast answers sooner; this bounds a
 * shared one that queues commands while Redis is down, or a connect to a host that never answers.
 */
const ANSWER_TIMEOUT_MS = 10_000;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

const JSON_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
};

const PAGE_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'content-security-policy': PAGE_CSP,
};

/**
 * The dashboard: a small read-only HTTP server over QueueInspector, serving one page and its JSON
 * API. It needs no app running, only the app's Redis; while Redis is down it keeps serving and
 * its API answers 503 (the page shows why), and it reconnects by itself.
 */
export class WebView {
  private readonly port: number;
  private readonly host: string;
  private readonly page: string;
  private readonly inspector: QueueInspector;
  private server?: Server;
  private listeningAt?: string;

  constructor(options: WebViewOptions) {
    const { port = DEFAULT_WEBVIEW_PORT, host = '127.0.0.1', refreshMs = DEFAULT_REFRESH_MS, ...inspectorOptions } = options;
    if (!Number.isInteger(port) || port < 0 || port > 65_535) {
      throw new InvalidOptionError(`WebView port must be a whole number from 0 to 65535, got ${port}.`);
    }
    if (!Number.isInteger(refreshMs) || refreshMs < 100) {
      throw new InvalidOptionError(`WebView refreshMs must be a whole number of milliseconds, at least 100, got ${refreshMs}.`);
    }
    this.port = port;
    this.host = host;
    // Built now so that a bad app name fails here, not at the first request.
    this.inspector = new QueueInspector(inspectorOptions);
    this.page = renderPage({ appName: inspectorOptions.name, refreshMs });
  }

  /** The dashboard's URL while it is started, e.g. `http://127.0.0.1:8180`. */
  get address(): string | undefined {
    return this.listeningAt;
  }

  /** Listens; resolves once the server accepts connections. Redis is reached at the first API call. */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((request, response) => {
      this.serve(request, response).catch(() => response.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.listeningAt = `http://${this.host.includes(':') ? `[${this.host}]` : this.host}:${port}`;
  }

  /** Closes the server, its open connections (browsers keep them alive) and the Redis connection. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    this.listeningAt = undefined;
    if (server) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    }
    await this.inspector.stop();
  }

  private async serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    try {
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        const reply = problemReply(405, 'METHOD_NOT_ALLOWED', `The dashboard only reads: use GET, not ${request.method}.`);
        return sendJson(response, reply, { allow: 'GET, HEAD' });
      }
      const refusal = this.refuseHost(request.headers.host);
      if (refusal) return sendJson(response, refusal);
      const url = new URL(request.url ?? '/', 'http://webview');
      if (url.pathname === '/') return sendPage(response, this.page);
      const read = apiRead(url);
      if (!read) return sendJson(response, problemReply(404, 'NOT_FOUND', `No such page: ${url.pathname}. The API: ${API_HELP}.`));
      sendJson(response, { status: 200, body: await this.answer(read) });
    } catch (error) {
      sendJson(response, errorReply(error));
    }
  }

  /**
   * On loopback the dashboard answers only requests addressed to loopback: a web page whose own
   * host name was pointed at 127.0.0.1 (DNS rebinding) must not read the tasks.
   */
  private refuseHost(hostHeader: string | undefined): ApiReply | undefined {
    if (!LOOPBACK.has(this.host) || LOOPBACK.has(hostnameOf(hostHeader))) return undefined;
    return problemReply(403, 'FORBIDDEN_HOST', `Host "${hostHeader ?? ''}" is not this dashboard; open ${this.listeningAt ?? 'it by its address'}.`);
  }

  private answer(read: ApiRead): Promise<unknown> {
    const target = this.inspector.connection.describe();
    const work = this.connected().then(async (inspector) => {
      try {
        return await read(inspector);
      } catch (error) {
        // The library's own errors say what went wrong; a command error may mean Redis is gone.
        throw error instanceof QTasksError ? error : inspector.connection.unavailable(error);
      }
    });
    return raceTimeout(work, ANSWER_TIMEOUT_MS, () => {
      throw new RedisUnavailableError(target, `no answer within ${ANSWER_TIMEOUT_MS} ms`);
    }, true);
  }

  /** The inspector, connected by the first request that needs Redis (a failed connect is tried again by the next). */
  private async connected(): Promise<QueueInspector> {
    await this.inspector.start();
    return this.inspector;
  }
}

function hostnameOf(hostHeader: string | undefined): string {
  try {
    return new URL(`http://${hostHeader ?? ''}`).hostname;
  } catch {
    return '';
  }
}

function sendJson(response: ServerResponse, { status, body }: ApiReply, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  response.writeHead(status, { ...JSON_HEADERS, ...headers }).end(json);
}

function sendPage(response: ServerResponse, page: string): void {
  response.writeHead(200, PAGE_HEADERS).end(page);
}
