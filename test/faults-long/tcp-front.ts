import { connect, createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * What a Kubernetes Service is to the bot's pods, for R2: one fixed loopback port that relays each new
 * connection to whichever bot process is current. Every process listens on ports of its own, so the next
 * one can be loaded (and open its ports, as the bot does before Redis answers) while the current one runs.
 * A connection to a process that is gone is closed at once, as a connection to a killed pod would be.
 */
export class TcpFront {
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  /** The port new connections are relayed to (0: none yet, connections are closed). */
  target = 0;
  port = 0;

  static async start(): Promise<TcpFront> {
    const front = new TcpFront();
    const server = createServer((client) => front.accept(client));
    front.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    front.port = (server.address() as AddressInfo).port;
    return front;
  }

  private accept(client: Socket): void {
    this.track(client);
    if (!this.target) return void client.destroy();
    const up = connect(this.target, "127.0.0.1");
    this.track(up);
    up.setNoDelay(true);
    client.setNoDelay(true);
    client.pipe(up);
    up.pipe(client);
    // Either side going (a killed process, a client giving up) takes the other with it.
    up.on("close", () => client.destroy());
    client.on("close", () => up.destroy());
  }

  private track(s: Socket): void {
    this.sockets.add(s);
    s.on("close", () => this.sockets.delete(s));
    s.on("error", () => s.destroy());
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
