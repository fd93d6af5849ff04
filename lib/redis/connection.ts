import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { RedisUnavailableError } from '../core/errors.js';

export type RedisClient = Redis | Cluster;

/** How a Redis component reaches Redis: a URL, ioredis options, or a client the app already has. */
export interface RedisConnectionOptions {
  url?: string;
  redis?: RedisOptions;
  client?: RedisClient;
}

/**
 * Owns the clients of one or more Redis components: the main client, plus duplicates for
 * blocking reads and subscriptions (a connection in either mode can run nothing else).
 * A client passed in by the app is never closed here; everything created here is.
 */
export class RedisConnection {
  readonly client: RedisClient;
  private readonly ownsClient: boolean;
  private readonly extras = new Set<RedisClient>();
  private readonly closing = new Set<Promise<void>>();
  private connecting?: Promise<void>;
  /** The latest connection error: it names the real cause (ECONNREFUSED, auth...) in our errors. */
  private lastError?: Error;

  constructor(options: RedisConnectionOptions) {
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      const base: RedisOptions = { lazyConnect: true, ...options.redis };
      this.client = options.url ? new Redis(options.url, base) : new Redis(base);
      this.ownsClient = true;
      // Handled here (ioredis reconnects by itself); callers see the cause in typed errors.
      this.client.on('error', (error: Error) => (this.lastError = error));
    }
  }

  static from(options: RedisConnectionOptions | RedisConnection): RedisConnection {
    return options instanceof RedisConnection ? options : new RedisConnection(options);
  }

  /** Connects once; an unreachable server fails here with a clear error instead of hanging. */
  connect(): Promise<void> {
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
    this.extras.add(copy);
    if (copy.status === 'wait') await copy.connect();
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
    const drops = [...this.extras].map((copy) => this.drop(copy));
    if (this.ownsClient && this.client.status !== 'end') {
      const closed = ended(this.client);
      await this.client.quit().catch(() => this.client.disconnect());
      drops.push(closed);
    }
    await Promise.all([...drops, ...this.closing]);
    this.connecting = undefined;
  }

  describe(): string {
    if (this.client instanceof Cluster) return 'a Redis Cluster';
    const { host, port, db } = this.client.options;
    return `${host}:${port}/${db ?? 0}`;
  }

  private async openMain(): Promise<void> {
    if (this.client.status === 'ready') return;
    if (this.client.status === 'wait') {
      try {
        await this.client.connect();
      } catch (error) {
        this.client.disconnect();
        throw new RedisUnavailableError(this.describe(), this.lastError ?? error);
      }
      return;
    }
    // A client handed in by the app may still be connecting.
    await new Promise<void>((resolve, reject) => {
      this.client.once('ready', resolve);
      this.client.once('error', (error) => reject(new RedisUnavailableError(this.describe(), error)));
    });
  }
}

/** Longest wait for a closing socket; ioredis destroys a stuck one itself after a while. */
const CLOSE_WAIT_MS = 2_000;

/** Resolves when the client's connection is gone for good ('end'). */
function ended(client: RedisClient): Promise<void> {
  if (client.status === 'end') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS).unref();
    client.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
