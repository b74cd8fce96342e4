import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Redis } from "ioredis";
import { freePort } from "../../sandbox/peers/net.ts";
import { waitFor } from "./wait.ts";

/**
 * A redis-server owned by one test: its own port and data directory, AOF with fsync on every write, no RDB
 * snapshots. It can be killed (SIGKILL: no chance to flush anything) and started again on the same port
 * and directory, so what survives is exactly what the append-only file holds.
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly dir: string,
  ) {}

  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort(), await mkdtemp(join(tmpdir(), "rollout-redis-")));
    await server.restart();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** Start (again) on the same port and directory; resolves once it answers PING with its data loaded. */
  async restart(): Promise<void> {
    if (this.child) return;
    const child = spawn(
      "redis-server",
      [
        "--port",
        String(this.port),
        "--bind",
        "127.0.0.1",
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--dir",
        this.dir,
        "--save",
        "",
        "--daemonize",
        "no",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    child.stdout?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    child.stderr?.on("data", (d: Buffer) => (output = (output + d.toString()).slice(-4000)));
    // A test process that dies (a timeout, a crash) must not leave its redis-server behind.
    const orphanGuard = () => child.kill("SIGKILL");
    process.once("exit", orphanGuard);
    child.once("exit", () => {
      process.removeListener("exit", orphanGuard);
      if (this.child === child) this.child = undefined;
    });
    this.child = child;
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => undefined); // refused until the server listens: expected here
    try {
      await waitFor(
        async () => {
          if (!this.child) throw new Error(`redis-server exited:\n${output}`);
          if (probe.status !== "ready") await probe.connect().catch(() => undefined);
          return (await probe.ping().catch(() => "")) === "PONG";
        },
        { timeoutMs: 10_000, intervalMs: 20, what: `redis-server on port ${this.port}` },
      );
    } finally {
      probe.disconnect();
    }
  }

  /** Kill the server (SIGKILL by default: nothing is flushed that was not already on disk). */
  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill(signal);
    await exited;
    this.child = undefined;
  }

  async close(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }
}
