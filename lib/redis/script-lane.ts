import { connect, type Socket } from 'node:net';
import type { RedisOptions } from 'ioredis';
import { callThenOnSettle } from '../core/timing.js';
import { neverSent, reconnectDelayMs } from './connection.js';

/** Where the lane connects, and how it opens its session: what the main client was given. */
export interface LaneAddress {
  host: string;
  port: number;
  /** A Unix socket path, which wins over host and port (as in ioredis). */
  path?: string;
  family?: number;
  username?: string;
  password?: string;
  db?: number;
  /** The client's connectionName, given to the lane too, so CLIENT LIST shows whose it is. */
  name?: string;
  connectTimeoutMs: number;
}

type Reply = string | number | null | LaneReplyError;

/** An error reply on the lane: the call is then sent again on the main connection, which types it. */
class LaneReplyError {
  constructor(readonly message: string) {}
}

/** Something waiting for the next reply on the lane's socket, in the order the commands went. */
interface Waiter {
  answered(reply: Reply): void;
  /** The socket closed before the reply came. */
  lost(): void;
}

/** One script call on the lane. A class, not closures: it is made on every add. */
class CallWaiter implements Waiter {
  constructor(
    private readonly lane: ScriptLane,
    private readonly resolve: (value: unknown) => void,
    private readonly onMain: () => Promise<unknown>,
  ) {}

  answered(reply: Reply): void {
    // An error reply (NOSCRIPT after a restart, a refusal the engine types): the main connection
    // runs the call again and gives the answer. Scripts on the lane store all or nothing, so a
    // call that failed here left nothing behind.
    this.resolve(reply instanceof LaneReplyError ? this.lane.sendOnMain(this.onMain) : reply);
  }

  lost(): void {
    // Redis may have run it: sent again on the main connection, which is safe as a lane's script
    // is one that Redis runs once per call, however often it is sent (see ScriptRunner.runOnLane).
    this.resolve(this.lane.sendOnMain(this.onMain).catch(lostOnItsWay));
  }
}

/** Read buffer of the lane: replies are read into it, never into a new buffer per read. */
const READ_BUFFER_BYTES = 64 * 1024;

const CR = 13;

/**
 * A socket of its own for the engine's hottest call, the enqueue script. An add spends most of
 * its time in the round trip, and a plain socket that writes the command and reads the reply
 * into one reused buffer spends about 4 µs less of it per call than a general client (measured:
 * docs/PERFORMANCE.md, session 20). The lane serves only what it can answer for sure:
 * - a call goes on the main connection (ioredis: reconnects, offline queue, typed errors) while
 *   the lane is not open, and while any call sent there has not settled, so calls keep their order;
 * - an error reply, or a socket that closes before the reply came, sends the call again on the
 *   main connection;
 * - a closed lane opens again on a later call, once the main client is ready, after a growing pause.
 */
export class ScriptLane {
  private socket?: Socket;
  private state: 'down' | 'opening' | 'open' | 'closed' = 'closed';
  private readonly waiters: Waiter[] = [];
  /** Calls sent on the main connection and not settled: the lane waits for them (order). */
  private onMainUnderWay = 0;
  /** Failed opens in a row, for the pause before the next. */
  private failures = 0;
  private retryAt = 0;
  private readonly readBuffer = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  /** The start of a reply that a read cut short; copied, as the read buffer is reused. */
  private carry?: Buffer;
  private reply: Reply = null;
  /** The encoded `EVALSHA <sha> <n> <keys>` of the last call, reused while the next is the same. */
  private lastHead?: { sha: string; keys: readonly string[]; encoded: string };

  constructor(
    private readonly address: LaneAddress,
    /** Whether the main client is connected: a lane opens only then (Redis is up, the app started). */
    private readonly mainReady: () => boolean,
  ) {}

  /**
   * The lane for a client with these options, or undefined when the options ask for what only the
   * client does (TLS, Sentinel, a key prefix, a command timeout, a custom connector).
   */
  static forClient(options: RedisOptions, mainReady: () => boolean, connectTimeoutMs: number): ScriptLane | undefined {
    const { tls, sentinels, keyPrefix, commandTimeout, Connector, host, port, path, family, username, password, db, connectionName } = options;
    if (tls || sentinels?.length || keyPrefix || commandTimeout || Connector) return undefined;
    const address = { host: host ?? '127.0.0.1', port: port ?? 6379, path: path ?? undefined, family, username, password, db, name: connectionName, connectTimeoutMs };
    return new ScriptLane(address, mainReady);
  }

  /** Lets the lane open, on the next call (the app's start). */
  start(): void {
    if (this.state !== 'closed') return;
    this.state = 'down';
    this.failures = 0;
    this.retryAt = 0;
  }

  /**
   * Runs EVALSHA of `sha` on the lane, or `onMain` (the same call on the main connection) when
   * the lane cannot take it now.
   */
  evalsha(sha: string, keys: readonly string[], args: readonly (string | number)[], onMain: () => Promise<unknown>): Promise<unknown> {
    // Ended by Redis, its close yet to come: what is written there would never leave.
    if (this.state === 'open' && !this.socket!.writable) this.gone(this.socket!);
    if (this.state !== 'open' || this.onMainUnderWay > 0) {
      this.openIfDue();
      return this.sendOnMain(onMain);
    }
    const command = this.encode(sha, keys, args);
    return new Promise((resolve) => {
      this.waiters.push(new CallWaiter(this, resolve, onMain));
      this.send(this.socket!, command);
    });
  }

  /** Sends a call on the main connection, counted so that the lane takes no call before it settles. */
  sendOnMain(onMain: () => Promise<unknown>): Promise<unknown> {
    this.onMainUnderWay++;
    return callThenOnSettle(onMain, undefined, this.mainSettled);
  }

  private readonly mainSettled = (): void => {
    this.onMainUnderWay--;
  };

  /** Closes the lane once the replies on their way have come; resolves when its socket is closed. */
  close(): Promise<void> {
    this.state = 'closed';
    const { socket } = this;
    if (!socket || socket.destroyed) return Promise.resolve();
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    if (this.waiters.length === 0) socket.destroy();
    return closed;
  }

  private openIfDue(): void {
    if (this.state !== 'down' || this.socket || Date.now() < this.retryAt || !this.mainReady()) return;
    this.state = 'opening';
    const { host, port, path, family, connectTimeoutMs } = this.address;
    const onread = { buffer: this.readBuffer, callback: this.onRead };
    const socket = path ? connect({ path, onread }) : connect({ host, port, family, onread });
    this.socket = socket;
    socket.setNoDelay(true);
    // A server that never answers: the calls go on the main connection meanwhile.
    socket.setTimeout(connectTimeoutMs, () => socket.destroy());
    // Its cause shows on the main client, which meets it too: here a failure only closes the lane.
    socket.on('error', () => undefined);
    socket.on('close', () => this.gone(socket));
    const session = sessionCommands(this.address);
    let unanswered = session.length;
    const step = (refusalCloses: boolean): Waiter => ({
      answered: (reply) => {
        if (reply instanceof LaneReplyError && refusalCloses) socket.destroy();
        else if (--unanswered === 0) this.opened(socket);
      },
      lost: () => undefined,
    });
    for (const command of session) {
      this.waiters.push(step(refusalClosesLane(command)));
      this.send(socket, encodeCommand(command));
    }
  }

  /** Every command the lane sends goes out here (the bench counts them). */
  private send(socket: Socket, command: string): void {
    socket.write(command);
  }

  private opened(socket: Socket): void {
    socket.setTimeout(0);
    if (this.state === 'closed') {
      socket.destroy();
      return;
    }
    this.state = 'open';
    this.failures = 0;
  }

  /** The socket closed, or can no longer be written: the lane is down, its calls go on the main connection. */
  private gone(socket: Socket): void {
    if (socket !== this.socket) return;
    socket.destroy();
    this.socket = undefined;
    this.carry = undefined;
    if (this.state !== 'closed') {
      this.state = 'down';
      this.retryAt = Date.now() + reconnectDelayMs(++this.failures);
    }
    // In the order they were sent, before any later call: the main connection keeps it.
    for (const waiter of this.waiters.splice(0)) waiter.lost();
  }

  /** Node's onread callback: `true` keeps the socket reading. */
  private readonly onRead = (length: number): boolean => {
    let data = this.readBuffer.subarray(0, length);
    if (this.carry) {
      data = Buffer.concat([this.carry, data]);
      this.carry = undefined;
    }
    let at = 0;
    while (at < data.length) {
      const next = this.parseReply(data, at);
      if (next < 0) break;
      at = next;
      this.waiters.shift()?.answered(this.reply);
    }
    if (at < data.length && this.socket) this.carry = Buffer.from(data.subarray(at));
    if (this.state === 'closed' && this.waiters.length === 0) this.socket?.destroy();
    return true;
  };

  /**
   * Reads one reply at `at` into `this.reply`; returns where the next begins, or -1 when the data
   * ends before this reply does. A reply of a kind no lane call gives (an array) closes the lane.
   */
  private parseReply(data: Buffer, at: number): number {
    const lineEnd = data.indexOf(CR, at);
    if (lineEnd < 0 || lineEnd + 1 >= data.length) return -1;
    const line = data.toString('latin1', at + 1, lineEnd);
    switch (data[at]) {
      case 0x24: {
        // '$': a bulk string, or null
        const length = Number(line);
        if (length < 0) {
          this.reply = null;
          return lineEnd + 2;
        }
        const end = lineEnd + 2 + length;
        if (end + 2 > data.length) return -1;
        this.reply = data.toString('utf8', lineEnd + 2, end);
        return end + 2;
      }
      case 0x2b: // '+'
        this.reply = line;
        return lineEnd + 2;
      case 0x2d: // '-'
        this.reply = new LaneReplyError(line);
        return lineEnd + 2;
      case 0x3a: // ':'
        this.reply = Number(line);
        return lineEnd + 2;
      default:
        this.socket?.destroy();
        return -1;
    }
  }

  private encode(sha: string, keys: readonly string[], args: readonly (string | number)[]): string {
    let head = this.lastHead;
    if (head?.sha !== sha || head.keys !== keys) {
      head = { sha, keys, encoded: encodeArgs(['EVALSHA', sha, String(keys.length), ...keys]) };
      this.lastHead = head;
    }
    return `*${3 + keys.length + args.length}\r\n${head.encoded}${encodeArgs(args)}`;
  }
}

/** What the lane sends as it opens, to be in the main connection's session; the last reply tells it is ready. */
function sessionCommands({ username, password, db, name }: LaneAddress): string[][] {
  const session: string[][] = [];
  // As ioredis: a user given without a password signs in with an empty one (an ACL user with nopass).
  if (username) session.push(['AUTH', username, password ?? '']);
  else if (password) session.push(['AUTH', password]);
  if (db) session.push(['SELECT', String(db)]);
  if (name) session.push(['CLIENT', 'SETNAME', name]);
  // A reply is all it waits for: PING asks for one when there is nothing to set (an ACL user may lack it).
  if (session.length === 0) session.push(['PING']);
  return session;
}

/**
 * Whether Redis refusing this session command closes the lane: a failed AUTH or SELECT would leave
 * it another user's, or in another database. A refused name (one with a space, or an ACL user
 * without CLIENT) does not: ioredis goes on unnamed too.
 */
function refusalClosesLane([command]: readonly string[]): boolean {
  return command !== 'CLIENT';
}

/** A command in Redis's protocol (RESP). */
function encodeCommand(command: readonly string[]): string {
  return `*${command.length}\r\n${encodeArgs(command)}`;
}

function encodeArgs(args: readonly (string | number)[]): string {
  let encoded = '';
  for (const arg of args) {
    const text = typeof arg === 'string' ? arg : String(arg);
    encoded += `$${Buffer.byteLength(text)}\r\n${text}\r\n`;
  }
  return encoded;
}

/**
 * A lane call lost with its socket, then refused by the main connection as it is down too
 * (whenRedisDown 'fail'): Redis is out of reach, and the call did leave and may have run, which the
 * caller must hear (an add's AddOutcomeUnknownError), not that it never left.
 */
export class LaneCallLostError extends Error {
  constructor(refusal: unknown) {
    super('the connection closed with the call on its way', { cause: refusal });
    this.name = 'LaneCallLostError';
  }
}

function lostOnItsWay(error: unknown): never {
  throw neverSent(error) ? new LaneCallLostError(error) : error;
}
