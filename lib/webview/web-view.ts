import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { isIP, type AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { InvalidOptionError, QTasksError, RedisUnavailableError, WebViewStartError } from '../core/errors.js';
import { consoleLogger, type QTasksLogger } from '../core/logger.js';
import { assertTimerRange, raceTimeout } from '../core/timing.js';
import { API_HELP, apiRead, errorReply, problemReply, type ApiRead, type ApiReply } from './api.js';
import { BasicAuth, type WebViewAuth } from './basic-auth.js';
import { QueueInspector, type InspectorOptions } from './inspector.js';
import { PAGE_CSP, renderPage } from './page.js';
import { TrustedProxies } from './trusted-proxies.js';

/** Where the dashboard listens and how its page refreshes. */
export interface WebViewServerOptions {
  /** Default 8180; 0 takes any free port (read `address` after `start()`). */
  port?: number;
  /** Interface to listen on; default 127.0.0.1 (this machine only). */
  host?: string;
  /** How often the page polls, in milliseconds; default 2000. */
  refreshMs?: number;
  /**
   * Host names requests may address the dashboard by, besides the default ones: on loopback,
   * loopback names; elsewhere, IP addresses, `localhost` and this machine's host name.
   */
  allowedHosts?: string[];
  /**
   * A user and password every request must carry (HTTP Basic authentication; browsers ask for
   * them). Off by default; give it whenever `host` is not loopback.
   */
  auth?: WebViewAuth;
  /**
   * The reverse proxies in front of the dashboard: IP addresses and CIDR ranges (`10.0.0.0/8`,
   * `fd00::/8`). A request from one is counted by auth's login throttle for the client its
   * X-Forwarded-For names, not for the proxy; default none.
   */
  trustedProxies?: string[];
}

/** The app to show (name and Redis connection, as for QueueInspector) and where to serve it. */
export interface WebViewOptions extends InspectorOptions, WebViewServerOptions {
  /** Where the warning about a dashboard open to the network goes; default the console. */
  logger?: QTasksLogger;
}

export const DEFAULT_WEBVIEW_PORT = 8180;
/** The highest TCP port; `qtasks web --port` is held to it too, so a typo fails as usage, before Redis is reached. */
export const MAX_PORT = 65_535;
const DEFAULT_REFRESH_MS = 2000;
/**
 * Longest a request waits for Redis. A connection that fails fast answers sooner; this bounds a
 * shared one that queues commands while Redis is down, or a connect to a host that never answers.
 */
const ANSWER_TIMEOUT_MS = 10_000;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/** DNS labels (letters, digits, hyphens; underscores too, as container names have them), dot-separated. */
const HOST_NAME = /^[\w-]{1,63}(\.[\w-]{1,63})*\.?$/;
const MAX_HOST_NAME_LENGTH = 253;

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
  private readonly onLoopback: boolean;
  /** Host names requests may name in their Host header (see refuseHost). */
  private readonly hostNames: ReadonlySet<string>;
  private readonly auth?: BasicAuth;
  private readonly trustedProxies: TrustedProxies;
  private readonly logger: QTasksLogger;
  private starting?: Promise<void>;
  private server?: Server;
  private listeningAt?: string;

  constructor(options: WebViewOptions) {
    const { port = DEFAULT_WEBVIEW_PORT, host = '127.0.0.1', refreshMs = DEFAULT_REFRESH_MS, allowedHosts = [], auth, trustedProxies = [], logger = consoleLogger, ...inspectorOptions } = options;
    if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) {
      throw new InvalidOptionError(`WebView port must be a whole number from 0 to ${MAX_PORT}, got ${port}.`);
    }
    if (!Number.isInteger(refreshMs) || refreshMs < 100) {
      throw new InvalidOptionError(`WebView refreshMs must be a whole number of milliseconds, at least 100, got ${refreshMs}.`);
    }
    // The page polls on a browser timer, which overflows past the same limit as Node's.
    assertTimerRange(refreshMs, 'WebView refreshMs');
    assertListenHost(host, 'WebView host');
    this.port = port;
    this.host = host;
    this.onLoopback = LOOPBACK.has(host);
    const defaultNames = this.onLoopback ? [...LOOPBACK] : ['localhost', hostname().toLowerCase(), host.toLowerCase()];
    this.hostNames = new Set([...defaultNames, ...allowedHostNames(allowedHosts, 'WebView allowedHosts')]);
    this.auth = auth === undefined ? undefined : new BasicAuth(auth);
    this.trustedProxies = new TrustedProxies(trustedProxies);
    this.logger = logger;
    // Built now so that a bad app name fails here, not at the first request.
    this.inspector = new QueueInspector(inspectorOptions);
    this.page = renderPage({ appName: inspectorOptions.name, refreshMs });
  }

  /** The dashboard's URL while it is started, e.g. `http://127.0.0.1:8180`. */
  get address(): string | undefined {
    return this.listeningAt;
  }

  /** Listens; resolves once the server accepts connections. Redis is reached at the first API call. */
  start(): Promise<void> {
    // A call made while another is on its way shares it: one server.
    this.starting ??= this.listen().catch((error: unknown) => {
      this.starting = undefined;
      throw error;
    });
    return this.starting;
  }

  private async listen(): Promise<void> {
    const server = createServer((request, response) => {
      this.serve(request, response).catch(() => response.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      const refuse = (error: Error) => reject(new WebViewStartError(this.hostAndPort(this.port), error));
      server.once('error', refuse);
      server.listen(this.port, this.host, () => {
        server.off('error', refuse);
        resolve();
      });
    });
    this.server = server;
    this.listeningAt = `http://${this.hostAndPort((server.address() as AddressInfo).port)}`;
    if (!this.onLoopback && !this.auth) {
      this.logger.warn(
        `The dashboard at ${this.listeningAt} listens beyond this machine with no auth: anyone who reaches it reads every task's ` +
          'arguments and results. Give it auth (and TLS in front), or keep host 127.0.0.1.',
      );
    }
  }

  private hostAndPort(port: number): string {
    return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${port}`;
  }

  /** Closes the server, its open connections (browsers keep them alive) and the Redis connection. */
  async stop(): Promise<void> {
    const starting = this.starting;
    this.starting = undefined;
    await starting?.catch(() => undefined);
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
      const refusal = this.refuseHost(request.headers.host);
      // Before the login: a page under another host name (DNS rebinding) gets no login prompt.
      if (refusal) return sendJson(response, refusal);
      const loginRefusal = this.auth?.refusal(request.headers.authorization, this.clientAddress(request));
      if (loginRefusal) return sendJson(response, loginRefusal.reply, loginRefusal.headers);
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        const reply = problemReply(405, 'METHOD_NOT_ALLOWED', `The dashboard only reads: use GET, not ${request.method}.`);
        return sendJson(response, reply, { allow: 'GET, HEAD' });
      }
      const url = new URL(request.url ?? '/', 'http://webview');
      if (url.pathname === '/') return sendPage(response, this.page);
      const read = apiRead(url, request.headers['if-none-match']);
      if (!read) return sendJson(response, problemReply(404, 'NOT_FOUND', `No such page: ${url.pathname}. The API: ${API_HELP}.`));
      const { headers, ...reply } = await this.answer(read);
      sendJson(response, reply, headers);
    } catch (error) {
      sendJson(response, errorReply(error));
    }
  }

  /** Whose login failures a request counts with: see TrustedProxies. A socket already closed reports no address. */
  private clientAddress(request: IncomingMessage): string {
    return this.trustedProxies.clientAddress(request.socket.remoteAddress ?? '', request.headers['x-forwarded-for']);
  }

  /**
   * Answers only requests addressed to a name this dashboard goes by: a web page whose own host
   * name was pointed at the dashboard's address (DNS rebinding) must not read the tasks. An IP
   * address names no web page, so off loopback any is taken.
   */
  private refuseHost(hostHeader: string | undefined): ApiReply | undefined {
    const name = hostnameOf(hostHeader);
    if (this.hostNames.has(name) || (!this.onLoopback && isIP(name.replace(/^\[(.*)\]$/, '$1')) !== 0)) return undefined;
    return problemReply(403, 'FORBIDDEN_HOST', `Host "${hostHeader ?? ''}" is not this dashboard; open ${this.listeningAt ?? 'it by its address'}.`);
  }

  private answer(read: ApiRead): Promise<ApiReply> {
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

/**
 * Refuses a host to listen on that is neither an IP address nor a host name, named as `label`
 * calls it (the CLI checks --host with it before it reaches Redis): listening on `a b` or `[::1]`
 * could only fail, and on '' would open the dashboard on every interface unasked.
 */
export function assertListenHost(host: unknown, label: string): asserts host is string {
  const named = typeof host === 'string' && (isIP(host) !== 0 || (host.length <= MAX_HOST_NAME_LENGTH && HOST_NAME.test(host)));
  if (!named) throw new InvalidOptionError(`${label} must be an IP address or a host name, got ${JSON.stringify(host)}.`);
}

/** The host names of allowedHosts; anything else is refused, named as `label` calls the list (see assertListenHost). */
export function allowedHostNames(allowedHosts: unknown, label: string): string[] {
  if (!Array.isArray(allowedHosts)) throw new InvalidOptionError(`${label} must be a list of host names.`);
  return allowedHosts.map((given: unknown) => {
    // A host, with a port at most: a URL's scheme, login or path would be read as part of the name
    // (a URL parser takes `\` for `/`, so `name\path` would be taken as `name`), and a `*` would be
    // taken as itself, matching no name. A bare IPv6 address is one as a Host header brackets it.
    const entry = typeof given === 'string' && isIP(given) === 6 ? `[${given}]` : given;
    const name = typeof entry === 'string' && !/[/\\@?#*]/.test(entry) ? hostnameOf(entry) : '';
    // A URL parser reads `1.2.3` as 1.2.0.3 and `0x7f.1` as 127.0.0.1: a typo would allow another address.
    const respelled = isIP(name) === 4 && (entry as string).replace(/:\d*$/, '') !== name;
    if (!name || respelled) throw new InvalidOptionError(`${label} must hold host names, got ${JSON.stringify(given)}.`);
    return name;
  });
}

/** The host name of a Host header (or of an allowedHosts entry), lower-cased; '' when it has none. */
function hostnameOf(hostHeader: string | undefined): string {
  try {
    return new URL(`http://${hostHeader ?? ''}`).hostname;
  } catch {
    return '';
  }
}

function sendJson(response: ServerResponse, { status, body }: ApiReply, headers: Record<string, string> = {}): void {
  if (status === 304) {
    response.writeHead(304, { 'cache-control': JSON_HEADERS['cache-control'], ...headers }).end();
    return;
  }
  const json = JSON.stringify(body);
  response.writeHead(status, { ...JSON_HEADERS, ...headers }).end(json);
}

function sendPage(response: ServerResponse, page: string): void {
  response.writeHead(200, PAGE_HEADERS).end(page);
}
