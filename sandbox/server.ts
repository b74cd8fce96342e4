import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { z } from "zod";
import { COMMANDS } from "../commands/index.ts";
import { readBody } from "./peers/read-body.ts";
import { viewButtons } from "./peers/slack/driver.ts";
import type { StoredView } from "./peers/slack/surfaces.ts";
import { SANDBOX_CHANNEL, SANDBOX_USERS, SEED_TARGETS, seedKey, WAVE_STORY } from "./seed.ts";
import { waveView } from "./views/wave.ts";
import type { Rollout } from "../src/engine/rollout.ts";
import { completionCatalog, suggest } from "./views/completion.ts";
import { channelView, clusterViews, dtabView, pageEphemeral, pageView, routeView, splitView, type PageState, type TargetPanel } from "./views/state.ts";
import { enteredProblem, overflowOption, pickProblem, ViewValues } from "./views/values.ts";
import type { World } from "./world.ts";

/**
 * The page's HTTP server: the static page, its JSON API and a server-sent event stream that says "changed"
 * whenever the Slack peer's messages change or the traffic simulator ticks. Everything the page does goes
 * to the real bot the way Slack would send it (signed slash commands and block_actions through the driver).
 */

const PAGE_DIR = fileURLToPath(new URL("./page/", import.meta.url));
const STATIC: Record<string, string> = {
  "/": "index.html",
  "/app.js": "app.js",
  "/blocks.js": "blocks.js",
  "/style.css": "style.css",
};
const TYPES: Record<string, string> = { html: "text/html; charset=utf-8", js: "text/javascript; charset=utf-8", css: "text/css; charset=utf-8" };

const userId = z.enum(SANDBOX_USERS.map((u) => u.id) as [string, ...string[]], { error: "is not one of the sandbox's people" });
const CommandBody = z.strictObject({ user: userId, text: z.string().max(2000, "is longer than 2000 characters") });
const ClickBody = z.strictObject({
  user: userId,
  ts: z.string().regex(/^\d+\.\d+$/),
  blockId: z.string().min(1),
  actionId: z.string().min(1),
  /** The value of the overflow menu's option picked (absent for a button). */
  option: z.string().min(1).optional(),
});
const viewId = z.string().regex(/^V\w+$/, { error: "is not a view id" });
const ViewClickBody = z.strictObject({ user: userId, viewId, blockId: z.string().min(1), actionId: z.string().min(1), option: z.string().min(1).optional() });
const ViewPickBody = z.strictObject({ user: userId, viewId, blockId: z.string().min(1), value: z.string().min(1), values: ViewValues });
const ViewSubmitBody = z.strictObject({ user: userId, viewId, values: ViewValues });
const ViewCloseBody = z.strictObject({ user: userId, viewId });
const HomeBody = z.strictObject({ user: userId });
/** The Argo Rollouts story: deploy a new image of `shop`, and/or choose how its analyses end. */
const ArgoBody = z.strictObject({ deploy: z.literal(true).optional(), analysis: z.enum(["Successful", "Failed", "Running"]).optional() });

/** The Flagger story: deploy a new revision of `checkout`, and/or make its checks fail or pass. */
const FlaggerBody = z.strictObject({ deploy: z.literal(true).optional(), failing: z.boolean().optional() });

const TrafficBody = z.strictObject({
  target: z.string(),
  rps: z.number().optional(),
  errorRate: z.number().optional(),
  latencyMs: z.number().optional(),
});

class BadRequest extends Error {
  constructor(
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/**
 * Why a request is not the page's own, or undefined. `Host` must be the page's address (127.0.0.1, localhost
 * or [::1] at its port, or the bound host); an `Origin` (browsers send one with every cross-origin request and
 * every POST) must be the page's origin; `Sec-Fetch-Site`, when sent, must not say cross-site.
 */
function foreignRequest(req: IncomingMessage, origins: () => Set<string>): string | undefined {
  const allowed = origins();
  const host = (req.headers.host ?? "").toLowerCase();
  if (!allowed.has(`http://${host}`)) return `this page is served at ${[...allowed][0]}, not ${host || "(no Host header)"}`;
  const origin = req.headers.origin;
  if (origin !== undefined && !allowed.has(origin.toLowerCase())) return `requests from ${origin} are not taken: open the page at ${[...allowed][0]}`;
  const site = req.headers["sec-fetch-site"];
  if (site === "cross-site") return "cross-site requests are not taken";
  return undefined;
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json; charset=utf-8", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

async function jsonBody<T>(req: IncomingMessage, schema: z.ZodType<T>): Promise<T> {
  // JSON only: a cross-site page can send a form or text/plain without asking, never application/json.
  const type = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (type !== "application/json") throw new BadRequest("the body must be JSON (Content-Type: application/json)", 415);
  let raw: unknown;
  try {
    raw = JSON.parse(await readBody(req));
  } catch {
    throw new BadRequest("the body is not JSON");
  }
  const r = schema.safeParse(raw);
  if (!r.success) throw new BadRequest(r.error.issues.map((i) => `${i.path.join(".") || "body"} ${i.message}`).join("; "));
  return r.data;
}

export type SandboxServer = { url: string; close(): Promise<void> };

export async function startSandboxServer(world: World, opts: { port: number; host?: string }): Promise<SandboxServer> {
  // Each open page holds one event stream and is sent its viewer's whole state on every change, so a page
  // never polls (and a reload never cuts a request short, besides the stream itself).
  const streams = new Map<ServerResponse, string>();
  // Known once the port is bound (below); requests only arrive after that.
  let allowedOriginsRef = new Set<string>();
  const origins = () => allowedOriginsRef;
  let pending: NodeJS.Timeout | undefined;
  const push = (res: ServerResponse, me: string) => res.write(`data: ${JSON.stringify(state(me))}\n\n`);
  // Many changes arrive together (a message and its thread reply, a traffic tick): one push per 100 ms is enough.
  const changed = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      if (resetting) return void changed();
      for (const [res, me] of streams) push(res, me);
    }, 100);
  };
  let resetting: Promise<void> | undefined;
  // The newest rollout of each wave target, for the page's Waves list: read from the bot's store on each
  // traffic tick (state() is synchronous), at most one read in flight.
  const waveKeys = [...world.targets.targets.values()].filter((t) => t.clusters).map((t) => t.name);
  const latestWave = new Map<string, Rollout | undefined>();
  let reading = false;
  const readWaves = () => {
    if (reading || resetting || !waveKeys.length) return;
    reading = true;
    void Promise.all(waveKeys.map(async (k) => latestWave.set(k, await world.bot().store.latestOf(k))))
      .catch(() => undefined) // a reset stopped the bot: the next tick reads the new one
      .finally(() => (reading = false));
  };
  const unsubscribe = [world.slack.onChange(changed), world.traffic.onTick(changed), world.traffic.onTick(readWaves)];
  const catalog = () => completionCatalog(COMMANDS, [...world.targets.targets.keys()]);

  const state = (me: string): PageState => {
    const { messages, threads } = channelView(world.slack.messages(SANDBOX_CHANNEL.id, { includeReplies: true }));
    const targets: TargetPanel[] = SEED_TARGETS.map((t) => {
      const key = seedKey(t);
      const declared = world.targets.targets.get(key)!;
      const traffic = world.traffic.view(key)!;
      const kube = world.kubeOf(t.cluster);
      const mesh =
        t.router === "namerd"
          ? dtabView(world.namerd.get(declared.namerd!.dtabNamespace), declared, t.canary, traffic.shares)
          : t.router === "gateway"
            ? routeView(kube.get("httproutes", t.namespace, declared.gateway?.httpRoute ?? t.name), declared, traffic.shares)
            : splitView(kube.get("trafficsplits", t.namespace, t.name)?.spec, traffic.shares);
      return {
        name: t.name,
        key,
        ...(t.cluster ? { cluster: t.cluster } : {}),
        router: t.router,
        namespace: t.namespace,
        stable: t.stable,
        canary: t.canary,
        mesh,
        traffic,
      };
    });
    const bot = world.slack.user(world.slack.botUserId);
    return {
      me,
      users: [
        ...SANDBOX_USERS.map((u) => ({ ...u, isBot: false })),
        { id: world.slack.botUserId, name: bot?.name ?? "rollout-bot", real_name: bot?.real_name ?? "Rollout Bot", note: "the bot", isBot: true },
      ],
      channel: SANDBOX_CHANNEL,
      metricsSource: world.metricsSource,
      messages,
      threads,
      ephemerals: world.slack
        .ephemeralsFor(me)
        .filter((e) => e.channel === SANDBOX_CHANNEL.id)
        .map(pageEphemeral),
      targets,
      clusters: clusterViews(world.clusters, targets),
      waves: waveKeys.map((key) =>
        waveView(
          key,
          (world.targets.targets.get(key)?.clusters ?? []).map((cluster) => {
            const own = cluster === WAVE_STORY.ownAlias;
            const panel = targets.find((t) => t.name === key && (own ? t.cluster === undefined : t.cluster === cluster));
            return {
              cluster,
              label: own ? `${cluster} (the bot's own cluster)` : cluster,
              panel: panel?.key ?? key,
              weights: panel?.mesh.kind === "missing" ? [] : (panel?.mesh.weights ?? []),
            };
          }),
          latestWave.get(key),
        ),
      ),
      // What a conversations_select offers: the channels the page has.
      conversations: [SANDBOX_CHANNEL],
      ...optionalView("modal", world.slack.surfaces.modalOf(me)),
      ...optionalView("home", world.slack.surfaces.homeOf(me)),
    };
  };

  const optionalView = (key: "modal" | "home", v: StoredView | undefined) => (v ? { [key]: pageView(v) } : {});
  /** The view `id` as `user` sees it, or a 404 answered (a page that has not caught up may show a closed one). */
  const seenView = (res: ServerResponse, user: string, id: string): StoredView | undefined => {
    const v = world.slack.surfaces.views.get(id);
    if (v && v.user === user && (v.type === "home" || world.slack.surfaces.modalOf(user)?.id === id)) return v;
    send(res, 404, { error: "that view is closed" });
    return undefined;
  };
  const answered = (res: ServerResponse, r: { status: number }, extra: Record<string, unknown> = {}) =>
    send(res, r.status === 200 ? 200 : 502, r.status === 200 ? { ok: true, ...extra } : { error: `the bot answered HTTP ${r.status}` });

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    // Only the page itself: a request naming another host (DNS rebinding) or sent from another origin
    // (a cross-site form or fetch) is refused before anything is read or done.
    const foreign = foreignRequest(req, origins);
    if (foreign) return send(res, 403, { error: foreign });
    const url = new URL(req.url ?? "/", "http://sandbox.local");
    const file = STATIC[url.pathname];
    if (req.method === "GET" && file) {
      const body = await readFile(`${PAGE_DIR}${file}`);
      res.writeHead(200, { "content-type": TYPES[file.split(".").pop()!]!, "cache-control": "no-store" });
      res.end(body);
      return;
    }
    if (resetting) await resetting;
    if (req.method === "GET" && url.pathname === "/api/state") {
      const me = userId.safeParse(url.searchParams.get("user"));
      return send(res, 200, state(me.success ? me.data : SANDBOX_USERS[0]!.id));
    }
    if (req.method === "GET" && url.pathname === "/api/complete") {
      return send(res, 200, { suggestions: suggest(url.searchParams.get("text") ?? "", catalog()) });
    }
    if (req.method === "GET" && url.pathname === "/api/events") {
      const me = userId.safeParse(url.searchParams.get("user"));
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store", connection: "keep-alive" });
      res.write("retry: 1000\n\n");
      const viewer = me.success ? me.data : SANDBOX_USERS[0]!.id;
      streams.set(res, viewer);
      push(res, viewer);
      req.on("close", () => streams.delete(res));
      return;
    }
    if (req.method === "POST" && url.pathname === "/api/command") {
      const b = await jsonBody(req, CommandBody);
      const text = b.text.trim().replace(/^\/rollout\b\s*/, "");
      const r = await world.driver().slash({ userId: b.user, channelId: SANDBOX_CHANNEL.id, text });
      return send(res, r.status === 200 ? 200 : 502, r.status === 200 ? { ok: true } : { error: `the bot answered HTTP ${r.status}` });
    }
    if (req.method === "POST" && url.pathname === "/api/click") {
      const b = await jsonBody(req, ClickBody);
      const shown = world.slack.message(SANDBOX_CHANNEL.id, b.ts) ?? world.slack.ephemeral(SANDBOX_CHANNEL.id, b.ts);
      if (!shown) return send(res, 404, { error: "that message is gone" });
      const button =
        b.option === undefined
          ? world.slack.buttons(SANDBOX_CHANNEL.id, b.ts).find((x) => x.action_id === b.actionId && x.block_id === b.blockId)
          : overflowOption(shown.blocks ?? [], b.blockId, b.actionId, b.option);
      // A page that has not caught up may show a button the message no longer has: Slack sends that click too.
      const r = await world.driver().click({
        userId: b.user,
        channelId: SANDBOX_CHANNEL.id,
        messageTs: b.ts,
        button: button && b.option === undefined ? button : { action_id: b.actionId, block_id: b.blockId },
        ...(b.option !== undefined ? { option: { text: button?.text ?? b.option, value: b.option } } : {}),
        ...(button ? {} : { stale: true }),
      });
      return answered(res, r);
    }
    if (req.method === "POST" && url.pathname === "/api/view/click") {
      const b = await jsonBody(req, ViewClickBody);
      if (!seenView(res, b.user, b.viewId)) return;
      const button = { action_id: b.actionId, block_id: b.blockId };
      const inView = b.option
        ? overflowOption(world.slack.surfaces.views.get(b.viewId)!.blocks, b.blockId, b.actionId, b.option)
        : viewButtons(world.slack.surfaces.views.get(b.viewId)!.blocks).find((x) => x.action_id === b.actionId && x.block_id === b.blockId);
      if (!inView) return send(res, 404, { error: "that view no longer has this control" });
      const r = await world.driver().clickInView({ userId: b.user, viewId: b.viewId, button, ...(b.option ? { option: { value: b.option } } : {}) });
      return answered(res, r);
    }
    if (req.method === "POST" && url.pathname === "/api/view/pick") {
      const b = await jsonBody(req, ViewPickBody);
      const view = seenView(res, b.user, b.viewId);
      if (!view) return;
      const problem = pickProblem(view, b.blockId, b.value) ?? enteredProblem(view, b.values);
      if (problem) return send(res, 400, { error: problem });
      const r = await world.driver().pickInView({ userId: b.user, viewId: b.viewId, blockId: b.blockId, value: b.value, values: b.values });
      return answered(res, r);
    }
    if (req.method === "POST" && url.pathname === "/api/view/submit") {
      const b = await jsonBody(req, ViewSubmitBody);
      const view = seenView(res, b.user, b.viewId);
      if (!view) return;
      if (view.type !== "modal" || !view.submit) return send(res, 400, { error: "this view has nothing to submit" });
      const problem = enteredProblem(view, b.values);
      if (problem) return send(res, 400, { error: problem });
      const r = await world.driver().submitView({ userId: b.user, viewId: b.viewId, values: b.values });
      if (r.status !== 200) return answered(res, r);
      return send(res, 200, { ok: true, ...world.slack.surfaces.answer(b.viewId, r.body) });
    }
    if (req.method === "POST" && url.pathname === "/api/view/close") {
      const b = await jsonBody(req, ViewCloseBody);
      if (!seenView(res, b.user, b.viewId)) return;
      world.slack.surfaces.close(b.viewId);
      return send(res, 200, { ok: true });
    }
    if (req.method === "POST" && url.pathname === "/api/home") {
      const b = await jsonBody(req, HomeBody);
      return answered(res, await world.driver().homeOpened({ userId: b.user }));
    }
    if (req.method === "POST" && url.pathname === "/api/traffic") {
      const b = await jsonBody(req, TrafficBody);
      const problem = world.traffic.control(b.target, {
        ...(b.rps !== undefined ? { rps: b.rps } : {}),
        ...(b.errorRate !== undefined ? { errorRate: b.errorRate } : {}),
        ...(b.latencyMs !== undefined ? { latencyMs: b.latencyMs } : {}),
      });
      return problem ? send(res, 400, { error: problem }) : send(res, 200, { ok: true });
    }
    if (req.method === "POST" && url.pathname === "/api/argo") {
      const b = await jsonBody(req, ArgoBody);
      return send(res, 200, {
        ok: true,
        said: world.argo({ ...(b.deploy ? { deploy: true as const } : {}), ...(b.analysis ? { analysis: b.analysis } : {}) }),
      });
    }
    if (req.method === "POST" && url.pathname === "/api/gitops/apply-snippet") {
      return send(res, 200, { ok: true, said: world.applyArgoSnippet() });
    }
    if (req.method === "POST" && url.pathname === "/api/flagger") {
      const b = await jsonBody(req, FlaggerBody);
      return send(res, 200, {
        ok: true,
        said: world.flagger({ ...(b.deploy ? { deploy: true as const } : {}), ...(b.failing !== undefined ? { failing: b.failing } : {}) }),
      });
    }
    if (req.method === "POST" && url.pathname === "/api/reset") {
      resetting = world.reset().finally(() => {
        resetting = undefined;
      });
      await resetting;
      changed();
      return send(res, 200, { ok: true });
    }
    send(res, 404, { error: `no ${req.method} ${url.pathname}` });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) return void res.end();
      if (err instanceof BadRequest) return send(res, err.status, { error: err.message });
      send(res, 500, { error: err instanceof Error ? err.message : String(err) });
    });
  });
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const loopback = ["127.0.0.1", "localhost", "[::1]"];
  const allowedOrigins = new Set(
    [...(host === "0.0.0.0" || host === "::" || loopback.includes(host) ? loopback : [host.includes(":") ? `[${host}]` : host, ...loopback])].map(
      (h) => `http://${h}:${port}`,
    ),
  );
  allowedOriginsRef = allowedOrigins;
  const keepalive = setInterval(() => {
    for (const res of streams.keys()) res.write(": keepalive\n\n");
  }, 15_000);
  keepalive.unref();
  return {
    url: `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}/`,
    async close() {
      clearInterval(keepalive);
      clearTimeout(pending);
      for (const u of unsubscribe) u();
      for (const res of streams.keys()) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
