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

  /** Closes a duplicate at once, failing its pending blocking command. */
  drop(copy: RedisClient): void {
    this.extras.delete(copy);
    copy.disconnect();
  }

  async close(): Promise<void> {
    for (const copy of this.extras) copy.disconnect();
    this.extras.clear();
    if (this.ownsClient && this.client.status !== 'end') {
      await this.client.quit().catch(() => this.client.disconnect());
    }
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
