import { formatDuration, parseDuration } from "../src/engine/duration.ts";
import { dnsLabelProblem } from "../src/engine/names.ts";
import { DEFAULT_STEPS, parseSteps } from "../src/engine/plan.ts";
import { newRollout } from "../src/engine/rollout.ts";
import { TargetSchema, type Target } from "../src/engine/target.ts";
import { echo } from "../src/slack/views/format.ts";
import { flagValue, parseArgs, type Grammar, type ParseResult } from "./args.ts";
import type { Caller, Command, CommandDeps, Reply, TargetCatalog } from "./types.ts";

export type StartArgs = {
  target: string;
  to?: string;
  from?: string;
  steps?: number[];
  namespace?: string;
  router?: Target["router"];
  split?: string;
  /** Automatic steps every this many ms (`--auto 10m`); without it, the target's `auto.enabled` decides. */
  autoMs?: number;
  /** Hold or abort (target setting) when this many ms pass before the rollout ends. */
  deadlineMs?: number;
};

const grammar: Grammar = {
  positionals: [{ name: "target", required: true }],
  flags: {
    to: { takesValue: true, help: "the new version (Deployment/backend name)", placeholder: "version" },
    from: { takesValue: true, help: "the stable version; defaults to the target's, or what the mesh routes to now (namerd)", placeholder: "version" },
    steps: { takesValue: true, help: "canary percentages, strictly increasing, ending at 100", placeholder: "10,50,100" },
    namespace: { takesValue: true, help: "Kubernetes namespace (ad-hoc targets)", placeholder: "namespace" },
    router: { takesValue: true, help: "smi | namerd | gateway (ad-hoc targets)", placeholder: "smi" },
    split: { takesValue: true, help: "TrafficSplit name (ad-hoc SMI targets)", placeholder: "name" },
    auto: { takesValue: true, help: "advance automatically every interval while the canary is healthy", placeholder: "10m" },
    deadline: { takesValue: true, help: "hold or abort (the target decides) if not finished by then", placeholder: "2h" },
  },
};

const USAGE =
  "/rollout start <target> --to <version> [--from <version>] [--steps 10,50,100] [--auto 10m] [--deadline 2h] [--namespace <ns>] [--router smi|namerd|gateway] [--split <name>]";

/**
 * `--steps 10, 50, 100`: the spaces made the steps three tokens. Say so, rather than "unexpected `50, 100`",
 * when the value ends (or the next token starts) with a comma and the tokens after it are numbers. Pure.
 */
export function spacedSteps(tokens: string[]): string | undefined {
  const i = tokens.findIndex((t) => /^--steps(=|$)/i.test(t));
  if (i === -1) return undefined;
  const eq = tokens[i]!.indexOf("=");
  const first = eq === -1 ? tokens[i + 1] : tokens[i]!.slice(eq + 1);
  const rest: string[] = [];
  for (const t of tokens.slice(eq === -1 ? i + 2 : i + 1)) {
    if (!/^[\d,]*\d[\d,]*$/.test(t)) break;
    rest.push(t);
  }
  if (first === undefined || !/^[\d,]+$/.test(first) || !rest.length || !(first.endsWith(",") || rest[0]!.startsWith(","))) return undefined;
  const typed = [first, ...rest].join(" ");
  return `--steps ${echo(typed)} has spaces in it: write the steps without spaces (${echo(typed.replace(/\s+/g, ""))}) or in quotes (${echo(`"${typed}"`)})`;
}

export function parseStart(tokens: string[]): ParseResult<StartArgs> {
  const spaced = spacedSteps(tokens);
  if (spaced) return { ok: false, error: spaced };
  const parsed = parseArgs("/rollout start", tokens, grammar);
  if (!parsed.ok) return parsed;
  const a = parsed.value;
  const target = a.positionals.target!;
  for (const [label, value] of [["target", target], ["--to", flagValue(a, "to")], ["--from", flagValue(a, "from")], ["--namespace", flagValue(a, "namespace")]] as const) {
    if (value === undefined) continue;
    const problem = dnsLabelProblem(value);
    if (problem) return { ok: false, error: `${label} ${echo(value)} is not a valid Kubernetes name: it ${problem}` };
  }
  const to = flagValue(a, "to");
  if (!to) return { ok: false, error: `\`--to <version>\` is required: which version should get the traffic?` };
  const from = flagValue(a, "from");
  if (from && from === to) return { ok: false, error: `\`--from\` and \`--to\` are both \`${to}\`: nothing to shift` };
  let steps: number[] | undefined;
  const stepsText = flagValue(a, "steps");
  if (stepsText !== undefined) {
    const s = parseSteps(stepsText);
    if (!s.ok) return { ok: false, error: `--steps: ${s.error}` };
    steps = s.steps;
  }
  const router = flagValue(a, "router");
  if (router !== undefined && router !== "smi" && router !== "namerd" && router !== "gateway") {
    return { ok: false, error: `--router ${echo(router)} is not one of smi, namerd, gateway` };
  }
  const split = flagValue(a, "split");
  if (split !== undefined && !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(split)) {
    return { ok: false, error: `--split ${echo(split)} is not a valid TrafficSplit name` };
  }
  let autoMs: number | undefined;
  const autoText = flagValue(a, "auto");
  if (autoText !== undefined) {
    const d = parseDuration(autoText, { minMs: 5_000, maxMs: 24 * 3_600_000 });
    if (!d.ok) return { ok: false, error: `--auto: ${d.error}` };
    autoMs = d.ms;
  }
  let deadlineMs: number | undefined;
  const deadlineText = flagValue(a, "deadline");
  if (deadlineText !== undefined) {
    const d = parseDuration(deadlineText, { minMs: 10_000, maxMs: 7 * 86_400_000 });
    if (!d.ok) return { ok: false, error: `--deadline: ${d.error}` };
    deadlineMs = d.ms;
  }
  return {
    ok: true,
    value: {
      target,
      to,
      ...(autoMs !== undefined ? { autoMs } : {}),
      ...(deadlineMs !== undefined ? { deadlineMs } : {}),
      ...(from ? { from } : {}),
      ...(steps ? { steps } : {}),
      ...(flagValue(a, "namespace") ? { namespace: flagValue(a, "namespace")! } : {}),
      ...(router ? { router } : {}),
      ...(split ? { split } : {}),
    },
  };
}

/** The declared target with flags laid over it, or an ad-hoc one where the catalog allows it. Pure. */
export function resolveTarget(catalog: TargetCatalog, args: StartArgs): ParseResult<Target> {
  const declared = catalog.targets.get(args.target);
  if (!declared && !catalog.adhoc) {
    const known = [...catalog.targets.keys()].sort();
    return {
      ok: false,
      error: `unknown target \`${args.target}\`${known.length ? `: known targets are ${known.map((k) => `\`${k}\``).join(", ")}` : ": no targets are declared"}`,
    };
  }
  const base = declared ?? { name: args.target };
  const merged = {
    ...base,
    ...(args.namespace ? { namespace: args.namespace } : {}),
    ...(args.router ? { router: args.router } : {}),
    ...(args.split ? { smi: { ...(declared?.smi ?? {}), trafficSplit: args.split } } : {}),
  };
  const t = TargetSchema.safeParse(merged);
  if (!t.success) return { ok: false, error: `target \`${args.target}\`: ${t.error.issues.map((i) => i.message).join("; ")}` };
  return { ok: true, value: t.data };
}

export const startCommand: Command<StartArgs> = {
  name: "start",
  usage: USAGE,
  summary: "start shifting traffic from the stable version to a new one, step by step",
  parse: parseStart,
  async run(deps: CommandDeps, caller: Caller, args: StartArgs): Promise<Reply> {
    const entry = { actor: caller.userId, action: "start", via: "command" as const, target: args.target, channel: caller.channelId };
    let out: Started;
    try {
      out = await begin(deps, caller, args);
    } catch (err) {
      await deps.audit.append({ ...entry, at: deps.now(), outcome: "error", reason: err instanceof Error ? err.message : String(err) }).catch(() => undefined);
      throw err;
    }
    const { rolloutId, after, ...reply } = out;
    await deps.audit
      .append({
        ...entry,
        at: deps.now(),
        detail: `${args.from ?? "(stable)"} → ${args.to}${args.steps ? `, steps ${args.steps.join(",")}` : ""}`,
        ...(rolloutId ? { rolloutId, outcome: "done", after } : { outcome: "refused", reason: reply.text }),
      })
      .catch((err: unknown) => deps.log.error({ err, rolloutId }, "could not append to the audit trail"));
    return { ...reply, audited: true };
  },
};

/** A reply, and for a rollout that was created, its id and first step (for the audit trail). */
type Started = Reply & { rolloutId?: string; after?: number };

async function begin(deps: CommandDeps, caller: Caller, args: StartArgs): Promise<Started> {
  const resolved = resolveTarget(deps.catalog, args);
  if (!resolved.ok) return { text: `:x: ${resolved.error}` };
  const target = resolved.value;
  if (!deps.routers.has(target.router)) return { text: `:x: this bot has no \`${target.router}\` router configured` };
  const steps = args.steps ?? target.steps ?? [...DEFAULT_STEPS];
  const testStage = deps.routers.hasTestStage(target.router);
  // Who may start, and where (the policy covers the target's `channels`). A plan whose first step is
  // 100% is also the final step, so it needs the right to finish as well.
  const gate = await deps.access.prepare(caller.userId, "start", target.name, caller.channelId);
  const decision = gate({ reachesFull: !testStage && steps[0] === 100 });
  if (!decision.ok) return { text: `:no_entry: ${decision.reason}` };
  const stable = args.from ?? target.stable ?? "";
  if (!stable && !deps.routers.discoversStable(target.router)) {
    return { text: `:x: \`--from <version>\` is required for \`${target.name}\`: the target does not name its stable version` };
  }
  if (stable && stable === args.to) return { text: `:x: \`${args.to}\` is already the stable version of \`${target.name}\`` };
  const busy = await deps.store.activeFor(target.name);
  if (busy) return { text: busyText(busy.id, busy.startedBy, busy.appliedPercent, busy.channel) };
  const autoMs = args.autoMs ?? (target.auto?.enabled ? target.auto.interval : undefined);
  if (autoMs !== undefined && !deps.metrics.for(target)) return { text: `:x: ${noMetricsForAuto(target.name, args.autoMs !== undefined)}` };

  const id = await deps.store.nextId(target.name);
  const now = deps.now();
  const record = newRollout({
    id,
    target,
    stable,
    canary: args.to!,
    steps,
    startedBy: caller.userId,
    channel: caller.channelId,
    ...(caller.responseUrl ? { responseUrl: caller.responseUrl } : {}),
    testStage,
    now,
    ...(autoMs !== undefined ? { auto: { intervalMs: autoMs, maxWaitMs: target.auto?.maxWait ?? 30 * 60_000, noticeMs: Math.min(target.auto?.notice ?? 60_000, autoMs / 2) } } : {}),
    ...(args.deadlineMs !== undefined ? { deadline: deadlineFor(now, args.deadlineMs, target.deadlineAction) } : {}),
  });
  const created = await deps.store.create(record);
  if (!created.ok) {
    const holder = await deps.store.get(created.activeId);
    return { text: busyText(created.activeId, holder?.startedBy, holder?.appliedPercent ?? null, holder?.channel) };
  }
  await deps.queue.afterTransition(created.rollout);
  deps.log.info({ rolloutId: id, target: target.name, stable, canary: args.to, steps }, "rollout requested");
  const mode = autoMs !== undefined ? ` Automatic: a step every ${formatDuration(autoMs)} while the canary is healthy.` : "";
  return {
    text: `:hourglass_flowing_sand: Starting rollout \`${id}\`: \`${stable || "(current)"}\` → \`${args.to}\`, plan ${steps.join("% → ")}%.${mode} Checking the mesh; the rollout message will appear in this channel.`,
    rolloutId: id,
    after: record.desiredPercent,
  };
}

/** Automatic steps without a success-rate source: name what turned them on, the flag or the targets file. Pure. */
export function noMetricsForAuto(target: string, byFlag: boolean): string {
  const why = `automatic steps need success-rate metrics, and \`${target}\` has no \`metrics:\` source`;
  return byFlag
    ? `${why}: start it without --auto, or declare its metrics in the targets file`
    : `\`${target}\` has \`auto.enabled: true\` in the targets file, but ${why}: declare its metrics there, or set \`auto.enabled: false\``;
}

function busyText(id: string, by: string | undefined, percent: number | null, channel: string | undefined): string {
  const who = by ? ` started by <@${by}>` : "";
  const where = channel ? ` in <#${channel}>` : "";
  return `:x: target is busy: rollout \`${id}\`${who}${where} is running (${percent ?? 0}% on the canary). Finish or abort it first (\`/rollout status ${id}\`).`;
}

/** The deadline is announced a tenth of the way before it (at most 10 minutes, at least 30 seconds). */
export function deadlineFor(now: number, ms: number, action: "hold" | "abort"): { at: number; action: "hold" | "abort"; warnAt: number } {
  const at = now + ms;
  return { at, action, warnAt: at - Math.max(30_000, Math.min(10 * 60_000, ms / 10)) };
}
