import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";

/**
 * Slack's Socket Mode side, for the local peer: `apps.connections.open` hands out a one-time
 * `ws://127.0.0.1:<port>/link?ticket=…` URL; on connect the server sends `hello`; `deliver` sends an envelope
 * (`slash_commands`, `interactive`, `events_api`) with an `envelope_id` and resolves with the client's ack
 * (`{envelope_id, payload}`); `disconnect` asks the client to reconnect (refresh_requested, link_disabled)
 * and `drop` cuts the socket without a word. As Slack does, an envelope goes to one open connection.
 */

export type Ack = { envelope_id: string; payload?: unknown };
export type EnvelopeType = "slash_commands" | "interactive" | "events_api";
/** Told of each ack to an envelope delivered, with what the envelope carried: the Slack side acts on some. */
export type OnAck = (type: EnvelopeType, payload: unknown, ack: Ack) => void;

export class SocketModeServer {
  private readonly wss: WebSocketServer;
  private readonly tickets = new Set<string>();
  private readonly open = new Set<WebSocket>();
  private readonly waiting = new Map<string, (ack: Ack) => void>();
  /** Every connection ever made, in order (a reconnect adds one). */
  connections = 0;
  /** Acks received, in order. */
  readonly acks: Ack[] = [];

  private constructor(
    wss: WebSocketServer,
    private readonly appId: string,
    private readonly onAck?: OnAck,
  ) {
    this.wss = wss;
    wss.on("connection", (ws, req) => {
      const ticket = new URL(req.url ?? "/", "ws://x").searchParams.get("ticket") ?? "";
      // A URL is good for one connection, as Slack's are.
      if (!this.tickets.delete(ticket)) return ws.close(4001, "invalid ticket");
      this.connections += 1;
      this.open.add(ws);
      ws.on("close", () => this.open.delete(ws));
      ws.on("message", (data) => {
        let msg: unknown;
        try {
          msg = JSON.parse(String(data));
        } catch {
          return;
        }
        const ack = msg as Ack;
        if (typeof ack?.envelope_id !== "string") return;
        this.acks.push(ack);
        this.waiting.get(ack.envelope_id)?.(ack);
        this.waiting.delete(ack.envelope_id);
      });
      ws.send(
        JSON.stringify({
          type: "hello",
          num_connections: this.open.size,
          debug_info: { host: "local-peer", approximate_connection_time: 3600 },
          connection_info: { app_id: this.appId },
        }),
      );
    });
  }

  static async start(appId: string, onAck?: OnAck): Promise<SocketModeServer> {
    const wss = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    await new Promise<void>((resolve, reject) => {
      wss.once("listening", () => resolve());
      wss.once("error", reject);
    });
    return new SocketModeServer(wss, appId, onAck);
  }

  /** A fresh URL for apps.connections.open. */
  newUrl(): string {
    const ticket = randomBytes(12).toString("hex");
    this.tickets.add(ticket);
    return `ws://127.0.0.1:${(this.wss.address() as AddressInfo).port}/link?ticket=${ticket}`;
  }

  get connected(): number {
    return this.open.size;
  }

  /**
   * Send one envelope to an open connection; resolves with its ack (rejects after `timeoutMs` without one).
   * `envelopeId` sends it again under an id already used, as Slack redelivers an envelope it got no ack for.
   */
  deliver(type: EnvelopeType, payload: unknown, timeoutMs = 3_000, envelopeId?: string): Promise<Ack> {
    const ws = [...this.open].find((w) => w.readyState === w.OPEN);
    if (!ws) return Promise.reject(new Error("no Socket Mode connection is open"));
    const envelope_id = envelopeId ?? randomBytes(8).toString("hex");
    return new Promise<Ack>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(envelope_id);
        reject(new Error(`no ack for ${type} envelope ${envelope_id} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(envelope_id, (ack) => {
        clearTimeout(timer);
        this.onAck?.(type, payload, ack);
        resolve(ack);
      });
      ws.send(
        JSON.stringify({
          envelope_id,
          type,
          payload,
          accepts_response_payload: type !== "events_api",
          retry_attempt: 0,
          retry_reason: "",
        }),
      );
    });
  }

  /** Ask every open connection to reconnect, as Slack does before recycling a server or disabling a link. */
  disconnect(reason: "refresh_requested" | "link_disabled" | "warning"): void {
    for (const ws of this.open)
      ws.send(
        JSON.stringify({
          type: "disconnect",
          reason,
          debug_info: { host: "local-peer" },
        }),
      );
  }

  /** Cut every open connection without a close frame (a network failure). */
  drop(): void {
    for (const ws of this.open) ws.terminate();
  }

  async close(): Promise<void> {
    for (const ws of this.open) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}
