/**
 * HTTP client for namerd's io.l5d.httpController dtab API (`/api/1/dtabs/<ns>`).
 *
 * Versions are namerd's ETags, opaque strings sent back raw in `If-Match` (namerd base64-decodes the
 * header as is, so it must not be quoted). A successful PUT answers 204 without an ETag: callers read
 * again for the new version. Every failure becomes a RouterError whose code says what to do next.
 */
import { redactUrl } from "../engine/urls.ts";
import { z } from "zod";
import { parseNameTree, parsePrefix, printDtab, printPrefix, printTree, type Dtab } from "./dtab.ts";
import { RouterError } from "./router.ts";

export type VersionedDtab = { dtab: Dtab; version: string };

export type NamerdClientOptions = {
  /** Base URL of the httpController, e.g. http://namerd.linkerd:4180 */
  url: string;
  /** Per request, covering headers and body; default DEFAULT_NAMERD_TIMEOUT_MS. */
  timeoutMs?: number;
  /** How PUT bodies are encoded; both are accepted by namerd. */
  format?: "dtab" | "json";
};

/** 412 from namerd: the dtab changed since the version we sent in If-Match. */
export class VersionConflict extends RouterError {
  constructor(
    readonly namespace: string,
    readonly sentVersion: string,
  ) {
    super("conflict", `namerd dtab '${namespace}' changed since version ${sentVersion} (412 Precondition Failed)`);
    this.name = "VersionConflict";
  }
}

/**
 * Deadline of one request when the caller names none: ROLLOUT_NAMERD_TIMEOUT_SECONDS' default. The
 * configured value is parsed once in main and handed down (buildRouters), never read here.
 */
export const DEFAULT_NAMERD_TIMEOUT_MS = 5_000;

const DentriesJson = z.array(z.object({ prefix: z.string(), dst: z.string() }));
const NamespacesJson = z.array(z.string());

export class NamerdClient {
  readonly baseUrl: string;
  private readonly timeoutMs: number;
  private readonly format: "dtab" | "json";

  constructor(opts: NamerdClientOptions) {
    this.baseUrl = opts.url.replace(/\/+$/, "");
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_NAMERD_TIMEOUT_MS;
    this.format = opts.format ?? "dtab";
  }

  async listNamespaces(): Promise<string[]> {
    const res = await this.send("GET", "/api/1/dtabs", { accept: "application/json" });
    if (res.status !== 200) throw this.unexpected(res, "listing dtab namespaces");
    return this.parseJson(res, NamespacesJson, "the namespace list");
  }

  /**
   * The dtab and its version. When the ETag is missing (a proxy dropping it), the version comes from
   * HEADs bracketing a second GET, so the version is known to belong to the dtab returned.
   */
  async getDtab(ns: string): Promise<VersionedDtab> {
    const first = await this.fetchDtab(ns);
    if (first.etag) return { dtab: first.dtab, version: first.etag };
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = await this.headVersion(ns);
      const again = await this.fetchDtab(ns);
      if (again.etag) return { dtab: again.dtab, version: again.etag };
      const after = await this.headVersion(ns);
      if (before === after) return { dtab: again.dtab, version: before };
    }
    throw new RouterError("conflict", `namerd dtab '${ns}' kept changing while reading its version without an ETag`);
  }

  /** The current version (ETag) via HEAD. */
  async headVersion(ns: string): Promise<string> {
    const res = await this.send("HEAD", this.nsPath(ns));
    if (res.status === 404) throw this.notFound(ns);
    if (res.status !== 200) throw this.unexpected(res, `reading the version of dtab '${ns}'`);
    const etag = res.headers.get("etag");
    if (!etag) throw new RouterError("invalid", `namerd sent no ETag for dtab '${ns}': compare-and-set is impossible`);
    return etag;
  }

  /**
   * Write the whole dtab. With `ifMatch`, only if the dtab is still at that version: VersionConflict
   * otherwise. Without it, namerd creates or overwrites unconditionally.
   */
  async putDtab(ns: string, dtab: Dtab, ifMatch?: string): Promise<void> {
    const headers: Record<string, string> = this.format === "json" ? { "content-type": "application/json" } : { "content-type": "application/dtab" };
    if (ifMatch !== undefined) headers["if-match"] = ifMatch;
    const body = this.format === "json" ? JSON.stringify(dtab.map((d) => ({ prefix: printPrefix(d.prefix), dst: printTree(d.tree) }))) : printDtab(dtab);
    const res = await this.send("PUT", this.nsPath(ns), headers, body);
    if (res.status === 204 || res.status === 200 || res.status === 201) return;
    if (res.status === 412 && ifMatch !== undefined) throw new VersionConflict(ns, ifMatch);
    if (res.status === 404) throw this.notFound(ns);
    throw this.unexpected(res, `writing dtab '${ns}'`);
  }

  // ---------------------------------------------------------------------------------------------

  private nsPath(ns: string): string {
    return `/api/1/dtabs/${encodeURIComponent(ns)}`;
  }

  private async fetchDtab(ns: string): Promise<{ dtab: Dtab; etag: string | null }> {
    const res = await this.send("GET", this.nsPath(ns), { accept: "application/json" });
    if (res.status === 404) throw this.notFound(ns);
    if (res.status !== 200) throw this.unexpected(res, `reading dtab '${ns}'`);
    const entries = this.parseJson(res, DentriesJson, `dtab '${ns}'`);
    try {
      const dtab = entries.map((e) => ({ prefix: parsePrefix(e.prefix), tree: parseNameTree(e.dst) }));
      return { dtab, etag: res.headers.get("etag") };
    } catch (err) {
      throw new RouterError("invalid", `namerd dtab '${ns}' holds a dentry we cannot read: ${(err as Error).message}`, err);
    }
  }

  private parseJson<T>(res: Answer, schema: z.ZodType<T>, what: string): T {
    let raw: unknown;
    try {
      raw = JSON.parse(res.body);
    } catch {
      throw new RouterError("invalid", `namerd answered ${what} with something that is not JSON: ${snippet(res.body)}`);
    }
    const parsed = schema.safeParse(raw);
    if (!parsed.success) {
      throw new RouterError("invalid", `namerd answered ${what} in an unexpected shape: ${z.prettifyError(parsed.error)}`);
    }
    return parsed.data;
  }

  private notFound(ns: string): RouterError {
    return new RouterError("not-found", `namerd has no dtab namespace '${ns}'`);
  }

  /** 5xx are namerd's trouble (retry later); other statuses are requests it will keep refusing. */
  private unexpected(res: Answer, doing: string): RouterError {
    const says = res.body.trim() ? `: ${snippet(res.body.trim())}` : " (no message)";
    if (res.status >= 500) {
      return new RouterError("unavailable", `namerd failed ${doing} with ${res.status}${says}`, { status: res.status });
    }
    if (res.status === 400) return new RouterError("rejected", `namerd rejected ${doing} (400)${says}`, { status: 400 });
    return new RouterError("rejected", `namerd answered ${res.status} ${doing}${says}`, { status: res.status });
  }

  private async send(method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answer> {
    const url = `${this.baseUrl}${path}`;
    try {
      const res = await fetch(url, { method, headers, body, signal: AbortSignal.timeout(this.timeoutMs) });
      // Read the body under the same deadline; it also frees the connection for reuse.
      return { status: res.status, headers: res.headers, body: await res.text() };
    } catch (err) {
      throw networkError(err, method, redactUrl(url), this.timeoutMs);
    }
  }
}

type Answer = { status: number; headers: Headers; body: string };

function networkError(err: unknown, method: string, url: string, timeoutMs: number): RouterError {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") {
    return new RouterError("unavailable", `namerd did not answer ${method} ${url} within ${timeoutMs} ms`, err);
  }
  const why = e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
  return new RouterError("unavailable", `namerd is unreachable (${method} ${url}): ${why}`, err);
}

const snippet = (s: string): string => (s.length > 300 ? `${s.slice(0, 300)}…` : s);
