import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 between the app and a Redis server, which a test can make "go down" at
 * the exact moment a given command is on its way: that command never reaches Redis, every socket
 * closes and no new connection is accepted, as if the server had died right then.
 */
export class CuttableLink {
  private readonly sockets = new Set<Socket>();
  private cutBefore?: { marker: string; done: () => void };
  private isCut = false;

  private constructor(private readonly server: Server) {}

  static async open(target: { host: string; port: number }): Promise<CuttableLink> {
    const server = createServer();
    const link = new CuttableLink(server);
    server.on('connection', (client) => link.relay(client, target));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return link;
  }

  get url(): string {
    const address = this.server.address();
    if (!address || typeof address === 'string') throw new Error('link is not listening');
    return `redis://127.0.0.1:${address.port}`;
  }

  /** Resolves once a `command` (e.g. 'SUBSCRIBE') was on its way and the link cut instead. */
  cutWhenSent(command: string): Promise<void> {
    // The command name as a RESP bulk string, so a script that merely mentions it does not match.
    const marker = `$${command.length}\r\n${command.toUpperCase()}\r\n`;
    return new Promise((resolve) => (this.cutBefore = { marker, done: resolve }));
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
    client.on('data', (chunk: Buffer) => {
      const pending = this.cutBefore;
      if (pending && chunk.toString('latin1').toUpperCase().includes(pending.marker)) {
        this.cutBefore = undefined;
        this.cut();
        pending.done();
        return;
      }
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const socket of [client, upstream]) {
      socket.on('error', () => undefined);
      socket.on('close', () => {
        this.sockets.delete(socket);
        client.destroy();
        upstream.destroy();
      });
    }
  }
}
