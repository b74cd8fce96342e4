/**
 * A local namerd `io.l5d.httpController` on a loopback port, answering like namerd 1.x backed by the
 * in-memory dtab store (linkerd/linkerd DtabHandler.scala, Json.scala, InMemoryDtabStore.scala):
 *
 * - `GET /api/1/dtabs` lists namespaces (sorted JSON array); any method on that path lists.
 * - `GET|HEAD /api/1/dtabs/<ns>`: 200 with `ETag` = base64 of the 8-byte big-endian version counter
 *   (1 when a namespace is created, +1 per write); 404 with an empty body when the namespace is missing.
 *   `Accept` picks the first of application/json | application/dtab | text/plain listed, JSON otherwise.
 *   JSON is `[{"prefix":..,"dst":..}]` with dsts in Finagle's `NameTree.show` (weights as `0.90` and `0.10`, glued to the path by a bare star);
 *   the text form is Finagle's `Dtab.show` (`/a=>/b;/c=>/d`). Both end with a newline.
 * - `PUT` (Content-Type application/json | application/dtab | text/plain): 204 without ETag. With
 *   `If-Match` (the raw ETag, unquoted) 412 on mismatch and 404 when the namespace is missing; without it,
 *   create-or-overwrite. 400 `Invalid Content-Type "x". ` for another media type, 400 with Finagle's
 *   parser message for a dtab text that does not parse, 400 with an empty body for bad JSON.
 * - `POST` creates (204, 409 when it exists, 400 with an empty body for bad input); `DELETE` 204 / 404.
 * - `?watch=true` on a namespace or on the list streams one rendering per change (chunked, newline-ended);
 *   namerd dedups versioned dtabs, so a write that leaves the text unchanged is still streamed again.
 * - Everything else is 404 (namerd's other /api/1 endpoints, bind/addr/delegate, are not served here).
 *
 * Test hooks: seed/get/edit the store directly (a person using namerctl), a request log, a write count,
 * fault injection, a hook before the next request of a method (to slip in a concurrent edit), and
 * stop()/restart() on the same port to make namerd unreachable for a while.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { DtabParseError, parseDtab, parseNameTree, parsePrefix, printDtab, printPrefix, printTree, type Dtab } from "../../src/routers/dtab.ts";
import { readBody } from "./read-body.ts";

export type NamerdFault = {
  /** Only requests with this method (any when absent). */
  method?: string;
  /** Answer with this status (body `namerd: injected <status>`); omit to only delay. */
  status?: 500 | 503;
  /** How many matching requests the fault hits; default 1. */
  times?: number;
  /**
   * Wait before answering (or dropping), e.g. longer than the client's timeout. The request is handled after
   * the wait even when the client has given up meanwhile (see RecordedRequest.clientGone).
   */
  delayMs?: number;
  /** Close the connection without an answer, as a crashed namerd or a reset would. */
  drop?: boolean;
};

export type RecordedRequest = {
  method: string;
  path: string;
  query: string;
  accept: string | undefined;
  contentType: string | undefined;
  ifMatch: string | undefined;
  body: string;
  /** Status answered; undefined when the request was dropped or is still in flight (or its client left). */
  status?: number;
  /** A fault held this request back this long before it was handled (NamerdFault.delayMs). */
  delayedMs?: number;
  /**
   * The client had closed the connection by the time the late request was handled (it timed out). The
   * request was still carried out, as namerd would (a PUT may land late); `unreadStatus` is what it answered.
   */
  clientGone?: boolean;
  unreadStatus?: number;
};

export type StoredDtab = { dtab: Dtab; text: string; version: string };

type Entry = { dtab: Dtab; version: bigint };
type Codec = "json" | "dtab";
/** `last` is the list rendering for list watchers, the version for namespace watchers. */
type Watcher = { res: ServerResponse; ns?: string; codec: Codec; last?: string };

const JSON_TYPE = "application/json";
const DTAB_TYPE = "application/dtab";
const TEXT_TYPE = "text/plain";

/** namerd's in-memory store versions: a long counter, sent as base64 of its 8 big-endian bytes. */
export function versionString(n: bigint): string {
  const buf = Buffer.alloc(8);
  buf.writeBigInt64BE(n);
  return buf.toString("base64");
}

/** Media type without parameters, lower-cased, as Finagle's `Request.mediaType`. */
const mediaTypeOf = (header: string | undefined): string | undefined => (header === undefined ? undefined : header.split(";", 1)[0]!.trim().toLowerCase());

function codecFor(mediaType: string | undefined): Codec | undefined {
  if (mediaType === JSON_TYPE) return "json";
  if (mediaType === DTAB_TYPE || mediaType === TEXT_TYPE) return "dtab";
  return undefined;
}

/** First listed type namerd can render (list order, q-values ignored, as DtabCodec.accept); JSON otherwise. */
function negotiate(accept: string | undefined): { mediaType: string; codec: Codec } {
  for (const part of (accept ?? "").split(",")) {
    const mt = mediaTypeOf(part);
    const codec = codecFor(mt);
    if (codec && mt) return { mediaType: mt, codec };
  }
  return { mediaType: JSON_TYPE, codec: "json" };
}

function render(dtab: Dtab, codec: Codec): string {
  if (codec === "dtab") return `${printDtab(dtab, "namerd")}\n`;
  return `${JSON.stringify(dtab.map((d) => ({ prefix: printPrefix(d.prefix), dst: printTree(d.tree, "namerd") })))}\n`;
}

/** Finagle's parser message shape: `'=>' expected but '/' found at '/host [/]srv'`. */
function finagleMessage(err: DtabParseError): string {
  const s = err.input;
  const i = err.offset;
  const found = i >= s.length ? "end of input" : `'${s[i]}'`;
  const shown = i >= s.length ? `${s}[]` : `${s.slice(0, i)}[${s[i]}]${s.slice(i + 1)}`;
  return `${err.expected} expected but ${found} found at '${shown}'`;
}

type Decoded = { ok: true; dtab: Dtab } | { ok: false; message: string };

function decode(body: string, codec: Codec): Decoded {
  if (codec === "dtab") {
    try {
      return { ok: true, dtab: parseDtab(body) };
    } catch (err) {
      if (err instanceof DtabParseError) return { ok: false, message: finagleMessage(err) };
      throw err;
    }
  }
  // Jackson's failures are not IllegalArgumentExceptions, so namerd answers them with an empty 400.
  try {
    const raw: unknown = JSON.parse(body);
    if (!Array.isArray(raw)) return { ok: false, message: "" };
    const dtab = raw.map((e: unknown) => {
      if (typeof e !== "object" || e === null) throw new Error("null dentry");
      const { prefix, dst } = e as { prefix?: unknown; dst?: unknown };
      if (typeof prefix !== "string" || typeof dst !== "string") throw new Error("bad dentry");
      return { prefix: parsePrefix(prefix), tree: parseNameTree(dst) };
    });
    return { ok: true, dtab };
  } catch {
    return { ok: false, message: "" };
  }
}

/** If-Match matches when it is the current version's base64; namerd decodes the raw header value. */
function stampMatches(stamp: string, current: bigint): boolean {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(stamp)) return false;
  const bytes = Buffer.from(stamp, "base64");
  return bytes.length === 8 && bytes.readBigInt64BE() === current;
}

export class NamerdPeer {
  /** Requests in arrival order (the test may clear it). */
  readonly requests: RecordedRequest[] = [];
  /** Successful PUT/POST/DELETE requests over HTTP (hooks like seed/edit are not counted). */
  writes = 0;

  private readonly store = new Map<string, Entry>();
  private readonly faults: (NamerdFault & { left: number })[] = [];
  private readonly hooks: { method: string; action: () => void | Promise<void> }[] = [];
  private readonly watchers = new Set<Watcher>();
  private server: Server | undefined;
  private omitEtag = false;

  private constructor(readonly port: number) {}

  /** Start on a loopback port (the OS picks one unless given). */
  static async start(opts: { port?: number; namespaces?: Record<string, string> } = {}): Promise<NamerdPeer> {
    const server = createServer();
    await listen(server, opts.port ?? 0);
    const peer = new NamerdPeer((server.address() as AddressInfo).port);
    peer.attach(server);
    for (const [ns, text] of Object.entries(opts.namespaces ?? {})) peer.seed(ns, text);
    return peer;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  // ---- store hooks -----------------------------------------------------------------------------

  /** Create or overwrite a namespace (version 1 when new, +1 otherwise), like an unconditional PUT. */
  seed(ns: string, dtabText: string): void {
    this.write(ns, parseDtab(dtabText));
  }

  get(ns: string): StoredDtab | undefined {
    const e = this.store.get(ns);
    return e && { dtab: e.dtab, text: printDtab(e.dtab), version: versionString(e.version) };
  }

  /** A person editing the namespace by hand (namerctl dtab update): bumps the version. */
  edit(ns: string, mutate: (dtab: Dtab) => Dtab | string): void {
    const e = this.store.get(ns);
    if (!e) throw new Error(`namerd peer: no namespace '${ns}' to edit`);
    const next = mutate(e.dtab);
    this.write(ns, typeof next === "string" ? parseDtab(next) : next);
  }

  remove(ns: string): void {
    this.store.delete(ns);
    this.notify();
  }

  // ---- behaviour hooks -------------------------------------------------------------------------

  failNext(fault: NamerdFault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  /** Run `action` just before the next `method` request is handled (e.g. a concurrent edit). */
  beforeNext(method: string, action: () => void | Promise<void>): void {
    this.hooks.push({ method: method.toUpperCase(), action });
  }

  /** Answer GETs without the ETag header, as a proxy that strips it would (HEAD keeps it). */
  omitEtagOnGet(omit = true): void {
    this.omitEtag = omit;
  }

  clearLog(): void {
    this.requests.length = 0;
    this.writes = 0;
  }

  // ---- lifecycle -------------------------------------------------------------------------------

  /** Stop listening and cut open connections; the store survives for restart(). */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const w of this.watchers) w.res.destroy();
    this.watchers.clear();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Listen again on the same port with the same store. */
  async restart(): Promise<void> {
    if (this.server) return;
    const server = createServer();
    await listen(server, this.port);
    this.attach(server);
  }

  async close(): Promise<void> {
    this.faults.length = 0;
    this.hooks.length = 0;
    await this.stop();
  }

  // ---- HTTP ------------------------------------------------------------------------------------

  private attach(server: Server): void {
    this.server = server;
    server.on("request", (req, res) => {
      void this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(err));
        else res.destroy();
      });
    });
  }

  private write(ns: string, dtab: Dtab): void {
    const prev = this.store.get(ns);
    this.store.set(ns, { dtab, version: prev ? prev.version + 1n : 1n });
    this.notify();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", "http://namerd");
    const method = (req.method ?? "GET").toUpperCase();
    const rec: RecordedRequest = {
      method,
      path: url.pathname,
      query: url.search,
      accept: req.headers.accept,
      contentType: req.headers["content-type"],
      ifMatch: header(req, "if-match"),
      body,
    };
    this.requests.push(rec);
    res.on("finish", () => {
      rec.status = res.statusCode;
    });

    const fault = this.takeFault(method);
    if (fault?.delayMs) {
      rec.delayedMs = fault.delayMs;
      await new Promise((r) => setTimeout(r, fault.delayMs));
      await new Promise((r) => setImmediate(r)); // let a client that gave up be seen to have closed
      if (res.destroyed) rec.clientGone = true;
    }
    if (fault?.drop) {
      req.socket.destroy();
      return;
    }
    if (fault?.status) {
      res.writeHead(fault.status, { "content-type": TEXT_TYPE }).end(`namerd: injected ${fault.status}`);
    } else {
      const hook = this.hooks.findIndex((h) => h.method === method);
      if (hook !== -1) await this.hooks.splice(hook, 1)[0]!.action();
      this.route(req, res, method, decodeURIComponent(url.pathname), url.searchParams, body);
    }
    if (rec.clientGone) rec.unreadStatus = res.statusCode;
  }

  private takeFault(method: string): NamerdFault | undefined {
    const i = this.faults.findIndex((f) => !f.method || f.method.toUpperCase() === method);
    if (i === -1) return undefined;
    const f = this.faults[i]!;
    if (--f.left <= 0) this.faults.splice(i, 1);
    return f;
  }

  private route(req: IncomingMessage, res: ServerResponse, method: string, path: string, q: URLSearchParams, body: string): void {
    const watch = q.get("watch")?.toLowerCase() === "true";
    if (path === "/api/1/dtabs" || path === "/api/1/dtabs/") return this.list(res, watch);
    if (!path.startsWith("/api/1/dtabs/")) return void res.writeHead(404).end();
    const ns = path.slice("/api/1/dtabs/".length);
    switch (method) {
      case "HEAD":
        return this.head(res, ns);
      case "GET":
        return this.getDtab(req, res, ns, watch);
      case "PUT":
        return this.put(req, res, ns, body);
      case "POST":
        return this.post(req, res, ns, body);
      case "DELETE":
        return this.delete(res, ns);
      default:
        return void res.writeHead(404).end();
    }
  }

  private namespaces(): string[] {
    return [...this.store.keys()].sort();
  }

  private list(res: ServerResponse, watch: boolean): void {
    const text = `${JSON.stringify(this.namespaces())}\n`;
    res.writeHead(200, { "content-type": JSON_TYPE });
    if (!watch) return void res.end(text);
    this.addWatcher({ res, codec: "json", last: text });
    res.write(text);
  }

  private head(res: ServerResponse, ns: string): void {
    const e = this.store.get(ns);
    if (!e) return void res.writeHead(404).end();
    res.writeHead(200, { etag: versionString(e.version) }).end();
  }

  private getDtab(req: IncomingMessage, res: ServerResponse, ns: string, watch: boolean): void {
    const { mediaType, codec } = negotiate(req.headers.accept);
    if (watch) {
      // namerd's stream only carries existing dtabs: a missing namespace yields an open, silent stream.
      res.writeHead(200, { "content-type": mediaType });
      const e = this.store.get(ns);
      if (e) res.write(render(e.dtab, codec));
      this.addWatcher({ res, ns, codec, last: e && String(e.version) });
      return;
    }
    const e = this.store.get(ns);
    if (!e) return void res.writeHead(404).end();
    const headers: Record<string, string> = { "content-type": mediaType };
    if (!this.omitEtag) headers.etag = versionString(e.version);
    res.writeHead(200, headers).end(render(e.dtab, codec));
  }

  private put(req: IncomingMessage, res: ServerResponse, ns: string, body: string): void {
    const codec = codecFor(mediaTypeOf(req.headers["content-type"]));
    if (!codec) {
      return void res.writeHead(400).end(`Invalid Content-Type "${req.headers["content-type"] ?? ""}". `);
    }
    const decoded = decode(body, codec);
    if (!decoded.ok) return void res.writeHead(400).end(decoded.message);
    const stamp = header(req, "if-match");
    if (stamp !== undefined) {
      const e = this.store.get(ns);
      if (!e) return void res.writeHead(404).end();
      if (!stampMatches(stamp, e.version)) return void res.writeHead(412).end();
    }
    this.write(ns, decoded.dtab);
    this.writes++;
    res.writeHead(204).end();
  }

  private post(req: IncomingMessage, res: ServerResponse, ns: string, body: string): void {
    const codec = codecFor(mediaTypeOf(req.headers["content-type"]));
    const decoded = codec && decode(body, codec);
    if (!decoded || !decoded.ok) return void res.writeHead(400).end();
    if (this.store.has(ns)) return void res.writeHead(409).end();
    this.write(ns, decoded.dtab);
    this.writes++;
    res.writeHead(204).end();
  }

  private delete(res: ServerResponse, ns: string): void {
    if (!this.store.has(ns)) return void res.writeHead(404).end();
    this.store.delete(ns);
    this.writes++;
    this.notify();
    res.writeHead(204).end();
  }

  private addWatcher(w: Watcher): void {
    this.watchers.add(w);
    w.res.on("close", () => this.watchers.delete(w));
  }

  /**
   * Push to each watcher whose view changed: list watchers when the set of names changes, namespace
   * watchers on every new version (namerd dedups VersionedDtab values, which include the version).
   */
  private notify(): void {
    for (const w of this.watchers) {
      if (w.ns === undefined) {
        const text = `${JSON.stringify(this.namespaces())}\n`;
        if (text !== w.last) w.res.write((w.last = text));
        continue;
      }
      const e = this.store.get(w.ns);
      if (e && String(e.version) !== w.last) {
        w.last = String(e.version);
        w.res.write(render(e.dtab, w.codec));
      }
    }
  }
}

export const startNamerdPeer = NamerdPeer.start;

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
}
