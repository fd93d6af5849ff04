import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 between the app and a Redis server, which a test can make "go down" at
 * the exact moment a given command is on its way: that command never reaches Redis, every socket
 * closes and no new connection is accepted, as if the server had died right then. Or it can lose
 * one command's reply: the command runs, its connection closes, and the client reconnects.
 */
/** How long a link that loses a reply waits before it closes the connection. */
const DROP_AFTER_MS = 100;

export class CuttableLink {
  private readonly sockets = new Set<Socket>();
  /** The connections to Redis among them. */
  private readonly upstreams = new Set<Socket>();
  private cutBefore?: { marker: string; alsoHolding: string; done: () => void };
  private dropReply?: { marker: string; alsoHolding: string; cutAll: boolean; done: () => void };
  private isCut = false;
  /** How long a connection the client closed stays open towards Redis (see closeLate). */
  private lateCloseMs = 0;
  /** Where it listens, and listens again once mended. */
  private port = 0;

  private constructor(private readonly server: Server) {}

  static async open(target: { host: string; port: number }): Promise<CuttableLink> {
    const server = createServer();
    const link = new CuttableLink(server);
    server.on('connection', (client) => link.relay(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    link.port = (server.address() as AddressInfo).port;
    return link;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /**
   * Resolves once a `command` (e.g. 'SUBSCRIBE') whose request holds `alsoHolding` (a key, say;
   * any by default) was on its way and the link cut instead.
   */
  cutWhenSent(command: string, alsoHolding = ''): Promise<void> {
    return new Promise((resolve) => (this.cutBefore = { marker: markerOf(command), alsoHolding: alsoHolding.toUpperCase(), done: resolve }));
  }

  /**
   * Lets the next `command` whose request holds `alsoHolding` (a key, say) reach Redis, then drops
   * its reply and closes that connection, as when a link fails between a command and its answer.
   * New connections are still let through, so the client reconnects; with `cutAll` the whole link
   * is cut instead (every connection of the client, as when Redis went away), until mend(). Resolves
   * once the reply was dropped.
   */
  dropReplyTo(command: string, alsoHolding: string, { cutAll = false } = {}): Promise<void> {
    return new Promise((resolve) => (this.dropReply = { marker: markerOf(command), alsoHolding: alsoHolding.toUpperCase(), cutAll, done: resolve }));
  }

  /** Mends a cut link: it listens on its port again, so clients reconnect through it. */
  async mend(): Promise<void> {
    this.isCut = false;
    await new Promise<void>((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  /** Local ports of the connections it opened to Redis: how Redis's CLIENT LIST names its clients. */
  get upstreamPorts(): number[] {
    return [...this.upstreams].flatMap((socket) => socket.localPort ?? []);
  }

  /**
   * From now on a connection the client closes stays open towards Redis for `ms` more, as when the
   * close is slow to reach the server: Redis may run what that connection still holds meanwhile
   * (a command behind a blocking one, say), and its answers are lost.
   */
  closeLate(ms: number): void {
    this.lateCloseMs = ms;
  }

  /** Cuts the link now. */
  cut(): void {
    if (this.isCut) return;
    this.isCut = true;
    this.server.close();
    for (const socket of this.sockets) socket.destroy();
  }

  private relay(client: Socket, target: { host: string; port: number }): void {
    if (this.isCut) return void client.destroy();
    const upstream = connect(target.port, target.host);
    this.sockets.add(client).add(upstream);
    this.upstreams.add(upstream);
    let dropping = false;
    client.on('data', (chunk: Buffer) => {
      const sent = chunk.toString('latin1').toUpperCase();
      const pending = this.cutBefore;
      if (pending && sent.includes(pending.marker) && sent.includes(pending.alsoHolding)) {
        this.cutBefore = undefined;
        this.cut();
        pending.done();
        return;
      }
      const drop = this.dropReply;
      if (drop && sent.includes(drop.marker) && sent.includes(drop.alsoHolding)) {
        this.dropReply = undefined;
        // From here on nothing Redis answers reaches the client; the connection closes once Redis
        // has surely run the command (a close right away could reset it before Redis reads it).
        dropping = true;
        setTimeout(() => {
          if (drop.cutAll) this.cut();
          else client.destroy();
          drop.done();
        }, DROP_AFTER_MS);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!dropping) client.write(chunk);
    });
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        this.upstreams.delete(socket);
        client.destroy();
        if (socket === client && this.lateCloseMs > 0) setTimeout(() => upstream.destroy(), this.lateCloseMs);
        else upstream.destroy();
      });
    }
  }
}

/** The command name as a RESP bulk string, so a script that merely mentions it does not match. */
function markerOf(command: string): string {
  return `$${command.length}\r\n${command.toUpperCase()}\r\n`;
}
