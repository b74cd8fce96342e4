import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

/**
 * A closed door in front of Redis for one bot process: a TCP relay on a loopback port of its own that
 * accepts connections but lets no byte through until `open()`. A process started behind a closed gate loads
 * its modules and then waits at its first Redis command: nothing it does is visible to Redis, the
 * Kubernetes API or Slack (it opens its own ports, but no request reaches them, and works no job). R2 uses this to load the
 * next bot process while the current one runs, and opens the gate right after the current one is killed.
 *
 * Once open it is a plain byte relay; when either side closes, the other is closed too, so Redis sees a
 * killed process's connections go as it would without the relay.
 */
export class RedisGate {
  private server: Server | undefined;
  private isOpen = false;
  private readonly waiting: { client: Socket; buffered: Buffer[]; hold: (b: Buffer) => void }[] = [];
  private readonly sockets = new Set<Socket>();
  /** When the process behind the gate first connected (its modules are loaded by then). */
  firstConnectionAt: number | undefined;
  port = 0;

  constructor(private readonly upstream: { host: string; port: number }) {}

  static async start(upstream: { host: string; port: number }): Promise<RedisGate> {
    const gate = new RedisGate(upstream);
    await gate.listen();
    return gate;
  }

  private async listen(): Promise<void> {
    const server = createServer((client) => this.accept(client));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
  }

  private accept(client: Socket): void {
    this.firstConnectionAt ??= Date.now();
    this.sockets.add(client);
    client.on("close", () => this.sockets.delete(client));
    client.on("error", () => client.destroy());
    if (this.isOpen) return this.relay(client, []);
    const buffered: Buffer[] = [];
    const entry = { client, buffered, hold: (b: Buffer) => void buffered.push(b) };
    client.on("data", entry.hold);
    client.once("close", () => {
      const i = this.waiting.indexOf(entry);
      if (i >= 0) this.waiting.splice(i, 1);
    });
    this.waiting.push(entry);
  }

  private relay(client: Socket, buffered: Buffer[]): void {
    const up = connect(this.upstream.port, this.upstream.host);
    this.sockets.add(up);
    up.setNoDelay(true);
    client.setNoDelay(true);
    up.on("close", () => {
      this.sockets.delete(up);
      client.destroy();
    });
    client.on("close", () => up.destroy());
    up.on("error", () => up.destroy());
    for (const b of buffered) up.write(b);
    client.pipe(up);
    up.pipe(client);
  }

  /** Let the process through: every connection it holds (and any later one) now reaches Redis. */
  open(): void {
    this.isOpen = true;
    for (const { client, buffered, hold } of this.waiting.splice(0)) {
      client.off("data", hold);
      if (!client.destroyed) this.relay(client, buffered);
    }
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    const server = this.server;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
