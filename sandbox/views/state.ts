import { formatAsNamerctl, dstFor } from "../../src/routers/namerd.ts";
import { printPath } from "../../src/routers/dtab.ts";
import type { Target } from "../../src/engine/target.ts";
import { HttpRouteSchema, parentVerdicts, renderRule, renderVerdicts, ruleLabel, testRuleIndex, type Rule } from "../../src/routers/gateway-route.ts";
import type { EphemeralMessage, StoredMessage } from "../peers/slack/index.ts";
import type { StoredView } from "../peers/slack/surfaces.ts";
import type { StoredDtab } from "../peers/namerd.ts";
import type { TargetTraffic } from "../traffic.ts";
import type { WaveView } from "./wave.ts";

/**
 * What the page shows, as one JSON document per viewer: the channel (top-level messages), threads, the
 * viewer's own ephemeral replies, and a panel per target. Pure: the server hands in what the peers hold.
 */

export type PageMessage = {
  ts: string;
  user: string;
  text: string;
  blocks: unknown[];
  edited: boolean;
  replyCount: number;
  threadTs?: string;
  broadcast: boolean;
};

export type PageEphemeral = { ts: string; text: string; blocks: unknown[]; threadTs?: string; at: number };

export type MeshView =
  | { kind: "split"; weights: { version: string; percent: number }[]; raw: string }
  | { kind: "dtab"; weights: { version: string; percent: number }[]; namerctl: string; testRequest: string }
  | {
      kind: "route";
      weights: { version: string; percent: number }[];
      route: string;
      /** Each rule as one line: its name, its matches, its backendRefs with their weights; `split` marks the rollout's. */
      rules: { label: string; text: string; split: boolean; test: boolean }[];
      parents: string;
    }
  | { kind: "missing"; why: string };

export type TargetPanel = {
  name: string;
  /** How commands and the page's controls name it: `backend-svc`, `backend-svc@prod-eu`. */
  key: string;
  /** The cluster it lives in; absent: the bot's own. */
  cluster?: string;
  router: Target["router"];
  namespace: string;
  stable: string;
  canary: string;
  mesh: MeshView;
  traffic: TargetTraffic;
};

export type PageState = {
  me: string;
  users: { id: string; name: string; real_name: string; note: string; isBot: boolean }[];
  channel: { id: string; name: string };
  metricsSource: string;
  messages: PageMessage[];
  threads: Record<string, PageMessage[]>;
  ephemerals: PageEphemeral[];
  targets: TargetPanel[];
  /** Every cluster, the bot's own first: how the bot reaches it and the shares its mesh holds now. */
  clusters: ClusterView[];
  /** Each wave target: its clusters in order with their shares, and where its newest rollout stands. */
  waves: WaveView[];
  /** Channels a conversations_select offers. */
  conversations: { id: string; name: string }[];
  /** The modal the viewer sees now, and their App Home tab once published. */
  modal?: PageView;
  home?: PageView;
};

/** One cluster on the page: its name, how the bot reaches it, where it reads its metrics, each target's shares there. */
export type ClusterView = {
  /** Its name in the targets file; absent: the bot's own. */
  name?: string;
  label: string;
  reach: string;
  metricsSource: string;
  targets: { key: string; weights: { version: string; percent: number }[] }[];
};

/** The clusters as the page lists them, each with the shares of the targets that live in it. */
export function clusterViews(
  clusters: readonly { name?: string; reach: string; metricsSource: string }[],
  panels: readonly Pick<TargetPanel, "key" | "cluster" | "traffic">[],
): ClusterView[] {
  return clusters.map((c) => ({
    ...(c.name !== undefined ? { name: c.name } : {}),
    label: c.name === undefined ? "own cluster" : `cluster ${c.name}`,
    reach: c.reach,
    metricsSource: c.metricsSource,
    targets: panels.filter((p) => p.cluster === c.name).map((p) => ({ key: p.key, weights: percentWeights(p.traffic.shares) })),
  }));
}

/** A view (modal or Home tab) as the page draws it; `entered` is what the person's inputs hold. */
export type PageView = {
  id: string;
  hash: string;
  type: "modal" | "home";
  title?: unknown;
  submit?: unknown;
  close?: unknown;
  blocks: unknown[];
  entered: Record<string, Record<string, unknown>>;
};

export function pageView(v: StoredView): PageView {
  return {
    id: v.id,
    hash: v.hash,
    type: v.type,
    ...(v.title ? { title: v.title } : {}),
    ...(v.submit ? { submit: v.submit } : {}),
    ...(v.close ? { close: v.close } : {}),
    blocks: v.blocks,
    entered: v.entered,
  };
}

export function pageMessage(m: StoredMessage): PageMessage {
  return {
    ts: m.ts,
    user: m.user,
    text: m.text,
    blocks: m.blocks ?? [],
    edited: m.edited !== undefined,
    replyCount: m.reply_count ?? 0,
    ...(m.thread_ts ? { threadTs: m.thread_ts } : {}),
    broadcast: m.reply_broadcast === true,
  };
}

export function pageEphemeral(e: EphemeralMessage): PageEphemeral {
  return { ts: e.ts, text: e.text, blocks: e.blocks ?? [], ...(e.thread_ts ? { threadTs: e.thread_ts } : {}), at: e.at };
}

/** Split channel messages into what the channel shows and each thread's replies. */
export function channelView(all: StoredMessage[]): { messages: PageMessage[]; threads: Record<string, PageMessage[]> } {
  const messages: PageMessage[] = [];
  const threads: Record<string, PageMessage[]> = {};
  for (const m of all) {
    if (m.deleted) continue;
    const isReply = m.thread_ts !== undefined && m.thread_ts !== m.ts;
    if (isReply) (threads[m.thread_ts!] ??= []).push(pageMessage(m));
    if (!isReply || m.reply_broadcast) messages.push(pageMessage(m));
  }
  return { messages, threads };
}

const percentWeights = (shares: Record<string, number>) =>
  Object.entries(shares).map(([version, share]) => ({ version, percent: Math.round(share * 1000) / 10 }));

export function splitView(spec: unknown, shares: Record<string, number>): MeshView {
  const backends = (spec as { backends?: { service?: unknown; weight?: unknown }[] } | undefined)?.backends;
  if (!Array.isArray(backends)) return { kind: "missing", why: "no TrafficSplit" };
  return { kind: "split", weights: percentWeights(shares), raw: backends.map((b) => `${String(b.service)} ${String(b.weight)}`).join(" / ") };
}

export function dtabView(stored: StoredDtab | undefined, target: Target, canary: string, shares: Record<string, number>): MeshView {
  if (!stored || !target.namerd) return { kind: "missing", why: "no dtab in namerd" };
  const dst = printPath(dstFor(target.namerd, canary));
  const url = target.namerd.ingressUrl ?? "http://<linkerd-ingress>/";
  return {
    kind: "dtab",
    weights: percentWeights(shares),
    namerctl: formatAsNamerctl(stored.dtab, stored.version),
    testRequest: `curl -H 'l5d-dtab: ${target.namerd.prefix} => ${dst}' ${url}`,
  };
}

function matchesText(rule: Rule): string {
  const m = (rule.matches ?? []) as { path?: { value?: string }; headers?: { name: string; value: string }[] }[];
  const parts = m.map((x) => [x.path?.value, ...(x.headers ?? []).map((h) => `${h.name}: ${h.value}`)].filter(Boolean).join(" + "));
  return parts.length ? parts.join(", ") : "everything";
}

/** An HTTPRoute: every rule (the split one marked, the bot's test rule named), and what its parents report. */
export function routeView(object: unknown, target: Target, shares: Record<string, number>): MeshView {
  const route = HttpRouteSchema.safeParse(object);
  const gw = target.gateway;
  if (!route.success || !gw) return { kind: "missing", why: "no HTTPRoute" };
  const r = route.data;
  const test = testRuleIndex(r, gw.testHeader);
  const rules = (r.spec.rules ?? []).map((rule, i) => ({
    label: ruleLabel(rule, i),
    text: `${matchesText(rule)} → ${renderRule(rule)}`,
    split: typeof gw.rule === "number" ? gw.rule === i : rule.name === gw.rule,
    test: i === test,
  }));
  return {
    kind: "route",
    weights: percentWeights(shares),
    route: `${r.metadata.namespace ?? target.namespace}/${r.metadata.name}`,
    rules,
    parents: renderVerdicts(parentVerdicts(r)),
  };
}
