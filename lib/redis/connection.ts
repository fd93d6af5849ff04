import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { AppStoppedError, errorMessage, InvalidOptionError, RedisUnavailableError, shownValue } from '../core/errors.js';
import { assertTimerRange, raceTimeout } from '../core/timing.js';
import { LaneCallLostError, ScriptLane } from './script-lane.js';

export type RedisClient = Redis | Cluster;

/**
 * What a command does while Redis is unreachable (restarting, failing over):
 * - `'wait'` (default): it is queued and sent once the connection is back, however long that takes;
 * - `'fail'`: it fails at once with RedisUnavailableError (for producers that must not block).
 * Workers behave the same either way: they retry, and reconnect by themselves.
 */
export type WhenRedisDown = 'wait' | 'fail';

/** A Redis Cluster to connect to: some of its nodes (the rest are discovered) and ioredis options. */
export interface RedisClusterConnection {
  nodes: ClusterNode[];
  options?: ClusterOptions;
}

/**
 * How a Redis component reaches Redis: a URL, ioredis options, a cluster, or a client the app
 * already has (a `Redis` or a `Cluster`; its own settings then decide what happens while it is down).
 */
export interface RedisConnectionOptions {
  url?: string;
  redis?: RedisOptions;
  cluster?: RedisClusterConnection;
  client?: RedisClient;
  whenRedisDown?: WhenRedisDown;
}

/**
 * How long a cluster command waits, with whenRedisDown 'wait', for its slot's master to come back:
 * a failover takes cluster-node-timeout (15 s by default) and an election.
 */
const CLUSTER_FAILOVER_WAIT_MS = 60_000;
/** ioredis's pause before it tries a command again while its slot has no master (retryDelayOnFailover, OnClusterDown). */
const CLUSTER_RETRY_DELAY_MS = 100;

/** Pause before the `attempt`th try to reach Redis again: ioredis's reconnects, and ours. */
export function reconnectDelayMs(attempt: number): number {
  return Math.min(attempt * 50, 2000);
}

/**
 * ioredis settings for each whenRedisDown. On a cluster, a command whose slot's master is lost is
 * tried again up to maxRedirections times: ioredis's default, 16, fails it within 2 s, in the
 * middle of a failover.
 */
const WHEN_DOWN: Record<WhenRedisDown, { enableOfflineQueue: boolean; maxRetriesPerRequest: number | null; maxRedirections: number }> = {
  wait: { enableOfflineQueue: true, maxRetriesPerRequest: null, maxRedirections: CLUSTER_FAILOVER_WAIT_MS / CLUSTER_RETRY_DELAY_MS },
  fail: { enableOfflineQueue: false, maxRetriesPerRequest: 0, maxRedirections: 16 },
};

/**
 * Owns the clients of one or more Redis components: the main client, plus duplicates for
 * blocking reads and subscriptions (a connection in either mode can run nothing else).
 * A client passed in by the app is never closed here; everything created here is.
 */
export class RedisConnection {
  readonly client: RedisClient;
  /**
   * The socket of its own that adds go on (see ScriptLane): for a single Redis reached by a client
   * of ours, opened by the first add after start, so a process that never adds has none.
   */
  readonly enqueueLane?: ScriptLane;
  private readonly ownsClient: boolean;
  private readonly extras = new Set<RedisClient>();
  private readonly closing = new Set<Promise<void>>();
  private connecting?: Promise<void>;
  /** Set by openUrl, which turns a cluster node's URL into a connection to the whole cluster. */
  private acceptsClusterNode = false;
  /**
   * Set once the main client is first ready, by our connect or by ioredis's own on a command sent
   * before start (lazyConnect): from then on a lost connection is retried.
   */
  private everConnected = false;
  /** When the main client last came back after losing Redis (ms since the epoch). */
  private reconnectedAt?: number;
  /**
   * Set when this connection stopped its main client (disconnect), cleared when it connects it
   * again. ioredis leaves a client stopped while it waited to reconnect (Redis down) in status
   * 'reconnecting' for good, though no reconnect is under way: see openSocket.
   */
  private mainStopped = false;
  /** Set by close(), cleared by connect(): calls made in between are refused (see refuseIfClosed). */
  private closed = false;
  /**
   * Set by connect() (the app's start), cleared by close(). Until then our main client's sockets
   * keep the process alive only while a call is under way: calls made before a start that never
   * comes (a Nest bootstrap that failed after an onModuleInit added a task) must not keep it
   * running for ever.
   */
  private appStarted = false;
  /** Calls under way made before start (see callStarted). */
  private callsUnderWay = 0;
  /** The latest connection error: it names the real cause (ECONNREFUSED, auth...) in our errors. */
  private lastError?: Error;
  /** The database as the URL writes it: ioredis keeps only its parseInt ("abc" is NaN, "2abc" is 2). */
  private readonly urlDatabase?: string;
  /**
   * True when calls are held while Redis is unreachable (whenRedisDown 'wait'), so work that opens
   * a connection of its own (a wait's subscription) holds too instead of failing. A client handed
   * in by the app follows its own settings, which are not ours to read.
   */
  readonly holdsWhileDown: boolean;

  constructor(options: RedisConnectionOptions) {
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
      this.holdsWhileDown = false;
      return;
    }
    const whenDown = options.whenRedisDown ?? 'wait';
    if (!(whenDown in WHEN_DOWN)) {
      throw new InvalidOptionError(`whenRedisDown must be 'wait' or 'fail', got ${JSON.stringify(whenDown)}.`);
    }
    this.holdsWhileDown = whenDown === 'wait';
    const { enableOfflineQueue, maxRetriesPerRequest, maxRedirections } = WHEN_DOWN[whenDown];
    if (options.cluster) {
      const given = options.cluster.options ?? {};
      this.client = new Cluster(options.cluster.nodes, {
        lazyConnect: true,
        enableOfflineQueue,
        maxRedirections,
        retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
        retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
        ...given,
        redisOptions: { maxRetriesPerRequest, ...given.redisOptions },
      });
    } else {
      const given = options.redis ?? {};
      const retry = given.retryStrategy ?? reconnectDelayMs;
      const base: RedisOptions = {
        lazyConnect: true,
        enableOfflineQueue,
        maxRetriesPerRequest,
        ...given,
        // No retry before the first connect succeeds: connect() then fails and the client stops
        // (a failed start leaves nothing reconnecting in the background, and can be tried again).
        retryStrategy: (attempt) => (this.everConnected ? retry(attempt) : null),
      };
      // ioredis takes any other URL (http://host) for a socket path, and fails only at connect.
      if (options.url && !isRedisAddress(options.url)) {
        throw new InvalidOptionError(`url must be a redis:// or rediss:// URL, or a Unix socket path; got ${shownValue(options.url)}.`);
      }
      const client = options.url ? new Redis(options.url, base) : new Redis(base);
      this.client = client;
      if (options.url) this.urlDatabase = databaseInUrl(options.url);
      this.enqueueLane = ScriptLane.forClient(client.options, () => client.status === 'ready', this.connectTimeoutMs());
    }
    // connect() limits the first connect with a timer of this length: a longer one fires at once.
    assertTimerRange(this.connectTimeoutMs(), 'connectTimeout');
    this.ownsClient = true;
    this.followSockets();
    this.client.on('ready', () => {
      if (this.everConnected) this.reconnectedAt = Date.now();
      this.everConnected = true;
    });
    // Handled here (ioredis reconnects by itself); callers see the cause in typed errors.
    this.client.on('error', (error: Error) => (this.lastError = error));
  }

  /**
   * The error to throw for a failed command: a RedisUnavailableError when Redis could not be
   * reached (including commands refused while it is down with whenRedisDown 'fail'), else `error`.
   */
  unavailable(error: unknown): unknown {
    if (error instanceof RedisUnavailableError || error instanceof AppStoppedError) return error;
    // ioredis may still say 'ready' for a moment after the socket closed; its errors tell.
    const lost =
      this.client.status !== 'ready' ||
      (error instanceof Error && error.name === 'MaxRetriesPerRequestError') ||
      error instanceof LaneCallLostError ||
      neverSent(error) ||
      slotUnserved(error);
    return lost ? new RedisUnavailableError(this.describe(), this.lastError ?? error) : error;
  }

  /** Whether the main client was ever connected: before that, no command reached Redis. */
  get connectedOnce(): boolean {
    return this.everConnected;
  }

  /** Whether the main client is connected now. */
  get ready(): boolean {
    return this.client.status === 'ready';
  }

  /** Milliseconds since the main client came back after losing Redis; Infinity if it never did. */
  sinceReconnectMs(): number {
    return this.reconnectedAt === undefined ? Number.POSITIVE_INFINITY : Date.now() - this.reconnectedAt;
  }

  /**
   * Refuses a call of app `appName` made once close() has closed this connection (the app
   * stopped): ioredis would fail it with a bare "Connection is closed." (an add would even say
   * Redis may have stored it), and a wait would open a subscription that nothing closes.
   */
  refuseIfClosed(appName: string): void {
    if (this.closed) throw new AppStoppedError(appName);
  }

  /**
   * Runs a call of app `appName` unless this connection is closed (see refuseIfClosed), after the
   * first connect where it must wait for it (see firstConnect), keeping the process alive until it
   * settles (see callStarted); its errors typed (see unavailable).
   */
  async whileOpen<T>(appName: string, call: () => Promise<T>): Promise<T> {
    this.refuseIfClosed(appName);
    const ended = this.callStarted();
    try {
      const opening = this.firstConnect();
      if (opening) await opening;
      return await call();
    } catch (error) {
      throw this.unavailable(error);
    } finally {
      ended();
    }
  }

  /** Whether connect() (the app's start) opened this connection, and close() has not closed it since. */
  get started(): boolean {
    return this.appStarted;
  }

  /**
   * Counts a call under way; returns the function that says it ended. Before start, our sockets
   * keep the process alive only while some call is under way: a script that awaits an add must get
   * its answer, and exit once it has it. Once started, the count is not needed (and not kept).
   */
  callStarted(): () => void {
    if (this.appStarted) return NOTHING;
    if (this.callsUnderWay++ === 0) this.holdSockets();
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      if (--this.callsUnderWay === 0) this.holdSockets();
    };
  }

  /**
   * Lets the main client's sockets keep the process alive, or not (see appStarted). Duplicates
   * are left alone: before start, only a wait opens one, and its storage closes it once no wait
   * is under way.
   */
  private holdSockets(): void {
    if (!this.ownsClient) return;
    const hold = this.appStarted || this.callsUnderWay > 0;
    const nodes = this.client instanceof Cluster ? this.client.nodes() : [this.client];
    for (const { stream } of nodes) {
      // A client that never connected has no socket yet (its first one opens held, as every socket).
      if (!stream) continue;
      if (hold) stream.ref();
      else stream.unref();
    }
  }

  /** Applies holdSockets to every socket the main client opens later: each reconnect, each cluster node, opens a new one. */
  private followSockets(): void {
    const opened = () => this.holdSockets();
    if (this.client instanceof Cluster) this.client.on('+node', (node: Redis) => node.on('connect', opened));
    else this.client.on('connect', opened);
  }

  static from(options: RedisConnectionOptions | RedisConnection): RedisConnection {
    return options instanceof RedisConnection ? options : new RedisConnection(options);
  }

  /**
   * Connects to the Redis at `url`, and through it to its whole cluster when it is a cluster
   * node: a client of that one node would fail every command on a slot another node serves
   * (MOVED). For tools given one URL for either kind of deployment (the CLI).
   */
  static async openUrl(url: string, whenRedisDown: WhenRedisDown): Promise<RedisConnection> {
    const single = new RedisConnection({ url, whenRedisDown });
    single.acceptsClusterNode = true;
    await single.connect();
    const cluster = await single.clusterThroughThisNode();
    if (!cluster) return single;
    await single.close();
    const whole = new RedisConnection({ cluster, whenRedisDown });
    await whole.connect();
    return whole;
  }

  /**
   * When this single-node client is connected to a Redis Cluster node: that cluster, reached
   * through this node with the same credentials and TLS. INFO may be refused (a renamed or
   * restricted command): the server is then taken as a single Redis.
   */
  private async clusterThroughThisNode(): Promise<RedisClusterConnection | undefined> {
    if (this.client instanceof Cluster) return undefined;
    const info = await this.client.info('cluster').catch(() => '');
    if (!/^cluster_enabled:1\b/m.test(info)) return undefined;
    const { host, port, username, password, tls } = this.client.options;
    return { nodes: [{ host, port }], options: { redisOptions: { username, password, tls } } };
  }

  /** Connects once (the app's start); an unreachable server fails here with a clear error instead of hanging. */
  async connect(): Promise<void> {
    this.closed = false;
    this.appStarted = true;
    this.holdSockets();
    await this.open();
    this.enqueueLane?.start();
  }

  /**
   * With whenRedisDown 'fail', a call made before the main client ever connected waits for its
   * first connect (on its way from start or an earlier call, or begun here), which fails typed
   * within connectTimeout: ioredis would refuse the call at once, Redis up or not, as the
   * connection is still opening. Undefined when there is nothing to wait for: once connected,
   * with 'wait' (ioredis queues the call until connected), for a client of the app's, or once
   * closed (a failed start closes it: the call is then refused, connecting nowhere).
   */
  firstConnect(): Promise<void> | undefined {
    if (this.everConnected || this.holdsWhileDown || !this.ownsClient || this.closed) return undefined;
    return this.open();
  }

  /** The main client's connect, one at a time; one that failed is tried again by the next. */
  private open(): Promise<void> {
    this.connecting ??= this.openMain().catch((error: unknown) => {
      this.connecting = undefined;
      throw error;
    });
    return this.connecting;
  }

  /** A new connection with the same settings, closed with this one. */
  async duplicate(): Promise<RedisClient> {
    // The union's two duplicate() signatures are not callable as one.
    const copy: RedisClient = this.client instanceof Cluster ? this.client.duplicate() : this.client.duplicate();
    copy.on('error', (error: Error) => (this.lastError = error));
    this.extras.add(copy);
    if (copy.status === 'wait') {
      // Bounded as the main connect is: a cluster copy whose ready check keeps failing (a master
      // down for good, with no replica to take over) would never settle.
      const limitMs = this.connectTimeoutMs();
      const notReady = () => {
        throw new RedisUnavailableError(this.describe(), new Error(`a new connection was not ready within ${limitMs} ms`));
      };
      // A copy that cannot connect is closed, or it would keep reconnecting in the background.
      await raceTimeout(connectUntilReady(copy), limitMs, notReady, true).catch((error: unknown) => {
        this.drop(copy);
        throw this.unavailable(error);
      });
    }
    return copy;
  }

  /**
   * Closes a duplicate at once, failing its pending blocking command; resolves when its socket
   * is closed. `close()` also waits for drops still in progress.
   */
  drop(copy: RedisClient): Promise<void> {
    this.extras.delete(copy);
    const closed = ended(copy);
    copy.disconnect();
    this.closing.add(closed);
    void closed.then(() => this.closing.delete(closed));
    return closed;
  }

  /** Closes every connection made here; resolves once their sockets are closed. */
  async close(): Promise<void> {
    this.closed = true;
    this.appStarted = false;
    // A call under way too: the sockets of an app never started would not keep the process alive
    // until QUIT is answered, and it would end inside a script's `await app.stop()`.
    const closeEnded = this.callStarted();
    try {
      const drops = [...this.extras].map((copy) => this.drop(copy));
      if (this.enqueueLane) drops.push(this.enqueueLane.close());
      if (this.ownsClient && this.client.status !== 'end') {
        const closed = ended(this.client);
        // QUIT lets queued replies arrive first; with Redis gone it would wait for a reconnect.
        if (this.client.status === 'ready') await this.client.quit().catch(() => this.stopMain());
        else this.stopMain();
        drops.push(closed);
      }
      await Promise.all([...drops, ...this.closing]);
      this.connecting = undefined;
    } finally {
      closeEnded();
    }
  }

  /** Stops the main client, and its reconnects (see mainStopped). */
  private stopMain(): void {
    this.mainStopped = true;
    this.client.disconnect();
  }

  private connectTimeoutMs(): number {
    const options = this.client instanceof Cluster ? this.client.options.redisOptions : this.client.options;
    return options?.connectTimeout ?? DEFAULT_CONNECT_TIMEOUT_MS;
  }

  /**
   * A database that is no number is refused before connecting: ioredis would SELECT NaN with no
   * handler for its failure, an unhandled rejection that ends the process.
   */
  private refuseNonNumericDatabase(): void {
    if (this.client instanceof Cluster) return;
    const { db } = this.client.options;
    const given = this.urlDatabase ?? (db === undefined ? undefined : String(db));
    if (given === undefined || (/^-?\d+$/.test(given) && (db === undefined || Number.isInteger(db)))) return;
    throw new InvalidOptionError(`Redis database "${given}" is not a database number: give a whole number, as in redis://127.0.0.1:6379/2 (or none, for database 0).`);
  }

  /**
   * A database the server does not have fails here, naming it: ioredis only reports its failed
   * SELECT as an 'error' event and goes on in database 0, where the app would mix with others.
   */
  private async checkDatabase(): Promise<void> {
    if (this.client instanceof Cluster || !this.client.options.db) return;
    const { db } = this.client.options;
    try {
      await this.client.select(db);
    } catch (error) {
      this.stopMain();
      throw new InvalidOptionError(`Redis database ${db} cannot be used at ${this.describe()}: ${errorMessage(error)}.`);
    }
  }

  /**
   * A single-node client of a Redis Cluster node works only while the app's slot sits on that
   * node, and fails with MOVED once it does not: refused at connect, naming the option to use.
   */
  private async refuseClusterNode(): Promise<void> {
    if (!(await this.clusterThroughThisNode())) return;
    this.stopMain();
    throw new InvalidOptionError(
      `Redis at ${this.describe()} is a Redis Cluster node: connect with the \`cluster\` option ({ nodes: [{ host, port }] }), not a single-node url or redis option.`,
    );
  }

  describe(): string {
    if (this.client instanceof Cluster) return 'a Redis Cluster';
    const { host, port, db, path } = this.client.options;
    // A Unix socket path wins over host and port, which then keep their defaults.
    if (path) return db ? `${path} (database ${db})` : path;
    return `${host}:${port}/${db ?? 0}`;
  }

  private async openMain(): Promise<void> {
    // A client of ours is connected here: it is new, a failed connect left it stopped (connecting
    // it again is the retry), or a command sent before start has it open or opening (openSocket).
    if (this.ownsClient || this.client.status === 'wait') {
      this.refuseNonNumericDatabase();
      // ioredis's connectTimeout covers opening the socket only: a server that accepts it and
      // never answers (stopped, or a proxy with no backend) would hold the connect for ever.
      const limitMs = this.connectTimeoutMs();
      let silent = false;
      const noAnswer = () => {
        silent = true;
        throw new Error(`no answer within ${limitMs} ms`);
      };
      try {
        await raceTimeout(this.openSocket(), limitMs, noAnswer, true);
      } catch (error) {
        // A cluster client retries by itself. A single Redis client that never connected has
        // stopped already (see retryStrategy), unless it waits for an answer; one a command opened
        // before start goes on retrying until the failed start closes the connection.
        if (this.client instanceof Cluster || silent) this.stopMain();
        throw new RedisUnavailableError(this.describe(), silent ? error : (this.lastError ?? error));
      }
      await this.checkDatabase();
      if (!this.acceptsClusterNode) await this.refuseClusterNode();
      return;
    }
    if (this.client.status === 'ready') return;
    // A client handed in by the app may still be connecting.
    await new Promise<void>((resolve, reject) => {
      this.client.once('ready', resolve);
      this.client.once('error', (error) => reject(new RedisUnavailableError(this.describe(), error)));
    });
  }

  /**
   * Opens our main client's socket. A command sent before start (an add in a Nest onModuleInit)
   * has ioredis open it by itself (lazyConnect): it is then open already, or on its way, and
   * ioredis's connect() would refuse to start another.
   */
  private openSocket(): Promise<void> {
    const { client } = this;
    if (client.status === 'ready') return Promise.resolve();
    // A client stopped here while it waited to reconnect still says 'reconnecting', and would
    // never answer: it is connected anew (an app stopped while Redis was down, started again).
    const stoppedReconnecting = this.mainStopped && client.status === 'reconnecting';
    if (stoppedReconnecting || !CONNECTING_STATUSES.has(client.status)) {
      this.mainStopped = false;
      return connectUntilReady(client);
    }
    return new Promise((resolve, reject) => {
      const onReady = () => {
        client.off('close', onClosed);
        resolve();
      };
      const onClosed = () => {
        client.off('ready', onReady);
        reject(new Error('Connection is closed.'));
      };
      client.once('ready', onReady);
      client.once('close', onClosed);
    });
  }
}

/** True for a redis:// or rediss:// URL (what ioredis reads as a server, not as a socket path). */
export function isRedisUrl(url: unknown): boolean {
  try {
    return ['redis:', 'rediss:'].includes(new URL(url as string).protocol);
  } catch {
    return false;
  }
}

/** True for what ioredis reads as a Redis server: a redis:// or rediss:// URL, or a Unix socket path. */
export function isRedisAddress(url: string): boolean {
  return url.startsWith('/') || isRedisUrl(url);
}

/**
 * The database a URL names, as written, or undefined: the path of a redis:// URL, else its `db`
 * query parameter (the only place a Unix socket path can name one).
 */
function databaseInUrl(url: string): string | undefined {
  if (url.startsWith('/')) return new URLSearchParams(url.split('?')[1] ?? '').get('db') ?? undefined;
  if (!isRedisUrl(url)) return undefined;
  const { pathname, searchParams } = new URL(url);
  return pathname.length > 1 ? pathname.slice(1) : (searchParams.get('db') ?? undefined);
}

/** ioredis's own default connectTimeout. */
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;

/** Longest wait for a closing socket; ioredis destroys a stuck one itself after a while. */
const CLOSE_WAIT_MS = 2_000;

/** Statuses of a client whose connect is under way. */
const CONNECTING_STATUSES = new Set(['connecting', 'connect', 'reconnecting']);

/** What callStarted returns once started: there is no count to keep. */
const NOTHING = () => undefined;

/** Statuses in which a client has a socket that closing must wait for. */
const OPEN_STATUSES = new Set(['connecting', 'connect', 'ready']);

/**
 * Connects `client`; resolves once it is ready. A cluster client whose ready check fails (its
 * CLUSTER INFO sent to a master that is lost and not failed over yet) connects again by itself and
 * gets ready, but ioredis never settles the promise of the connect() that began it: the 'ready'
 * event is what tells then.
 */
function connectUntilReady(client: RedisClient): Promise<void> {
  return new Promise((resolve, reject) => {
    client.once('ready', resolve);
    client.connect().then(resolve, (error: unknown) => {
      client.off('ready', resolve);
      reject(error);
    });
  });
}

/** Resolves when the client's connection is gone for good ('end'); at once when it has no socket. */
function ended(client: RedisClient): Promise<void> {
  if (!OPEN_STATUSES.has(client.status)) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS).unref();
    client.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/**
 * True when a cluster command found no master for its slot (failing over, or down) within its
 * redirections; it may have run on the master that was lost.
 */
function slotUnserved(error: unknown): boolean {
  return error instanceof Error && /^(Too many Cluster redirections|CLUSTERDOWN)/.test(error.message);
}

/**
 * True for ioredis's refusal of a command while the connection is down and the offline queue is
 * off (whenRedisDown 'fail'): the command never left this client, so Redis did not run it.
 */
export function neverSent(error: unknown): boolean {
  return error instanceof Error && error.message.includes('enableOfflineQueue options is false');
}
