import { formatDuration, parseDuration } from "../src/engine/duration.ts";
import { dnsLabelProblem } from "../src/engine/names.ts";
import { imageProblem } from "../src/engine/deploy.ts";
import { deployProblemText } from "../src/slack/views/deploy-text.ts";
import { parseSteps } from "../src/engine/plan.ts";
import { targetKeyProblem, type Target } from "../src/engine/target.ts";
import { resolveTarget as resolveTargetData, startRollout } from "../src/app/start.ts";
import { echo } from "../src/slack/views/format.ts";
import { durationProblemText, stepsProblemText } from "../src/slack/views/problems.ts";
import { startRefusalReply, startRefusalText } from "../src/slack/views/refusal.ts";
import { flagValue, parseArgs, type Grammar, type ParseResult } from "./args.ts";
import type { Caller, Command, CommandDeps, Reply, TargetCatalog } from "./types.ts";

export type StartArgs = {
  target: string;
  to?: string;
  /** `--image`: the bot deploys the new version from the stable's Deployment with this image first. */
  image?: string;
  from?: string;
  steps?: number[];
  namespace?: string;
  router?: Target["router"];
  split?: string;
  /** Automatic steps every this many ms (`--auto 10m`); without it, the target's `auto.enabled` decides. */
  autoMs?: number;
  /** Hold or abort (target setting) when this many ms pass before the rollout ends. */
  deadlineMs?: number;
  /** `--clusters staging,prod-eu`: a wave target's clusters to run through, in this order. */
  clusters?: string[];
};

const grammar: Grammar = {
  positionals: [{ name: "target", required: true }],
  flags: {
    to: {
      takesValue: true,
      help: "the new version (Deployment/backend name); with --image, defaults to the next number after the stable's",
      placeholder: "version",
    },
    image: {
      takesValue: true,
      help: "deploy the new version first: a copy of the stable's Deployment (and Service) running this image (targets with `deploy: true`)",
      placeholder: "image:tag",
    },
    from: { takesValue: true, help: "the stable version; defaults to the target's, or what the mesh routes to now (namerd)", placeholder: "version" },
    steps: { takesValue: true, help: "canary percentages, strictly increasing, ending at 100", placeholder: "10,50,100" },
    namespace: { takesValue: true, help: "Kubernetes namespace (ad-hoc targets)", placeholder: "namespace" },
    router: { takesValue: true, help: "smi | namerd | gateway (ad-hoc targets)", placeholder: "smi" },
    split: { takesValue: true, help: "TrafficSplit name (ad-hoc SMI targets)", placeholder: "name" },
    auto: { takesValue: true, help: "advance automatically every interval while the canary is healthy", placeholder: "10m" },
    deadline: { takesValue: true, help: "hold or abort (the target decides) if not finished by then", placeholder: "2h" },
    clusters: {
      takesValue: true,
      help: "a wave target: the clusters to roll through, in this order (among those its `clusters:` declares)",
      placeholder: "staging,prod-eu",
    },
  },
};

// docs/commands.md quotes this line (test/unit/command-input.test.ts, test/unit/docs-drift.test.ts).
const USAGE =
  "/rollout start <target> (--to <version> | --image <image:tag> [--to <version>]) [--from <version>] [--steps 10,50,100] [--auto 10m] [--deadline 2h] [--clusters staging,prod-eu] [--namespace <ns>] [--router smi|namerd|gateway] [--split <name>]";

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
  // `shop`, or `shop@prod-eu`: a target declared in another cluster.
  const targetProblem = targetKeyProblem(target);
  if (targetProblem)
    return { ok: false, error: `target ${echo(target)} is not a valid ${target.includes("@") ? "target" : "Kubernetes name"}: it ${targetProblem}` };
  for (const [label, value] of [
    ["--to", flagValue(a, "to")],
    ["--from", flagValue(a, "from")],
    ["--namespace", flagValue(a, "namespace")],
  ] as const) {
    if (value === undefined) continue;
    const problem = dnsLabelProblem(value);
    if (problem) return { ok: false, error: `${label} ${echo(value)} is not a valid Kubernetes name: it ${problem}` };
  }
  const to = flagValue(a, "to");
  const image = flagValue(a, "image");
  if (image !== undefined) {
    const bad = imageProblem(image);
    if (bad) return { ok: false, error: deployProblemText(bad) };
  }
  if (!to && image === undefined)
    return { ok: false, error: `\`--to <version>\` is required: which version should get the traffic? (Or \`--image <image>\` to have the bot deploy it.)` };
  const from = flagValue(a, "from");
  if (from && from === to) return { ok: false, error: `\`--from\` and \`--to\` are both \`${to}\`: nothing to shift` };
  let steps: number[] | undefined;
  const stepsText = flagValue(a, "steps");
  if (stepsText !== undefined) {
    const s = parseSteps(stepsText);
    if (!s.ok) return { ok: false, error: `--steps: ${stepsProblemText(s.error)}` };
    steps = s.value;
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
    if (!d.ok) return { ok: false, error: `--auto: ${durationProblemText(d.error)}` };
    autoMs = d.value;
  }
  let deadlineMs: number | undefined;
  const deadlineText = flagValue(a, "deadline");
  if (deadlineText !== undefined) {
    const d = parseDuration(deadlineText, { minMs: 10_000, maxMs: 7 * 86_400_000 });
    if (!d.ok) return { ok: false, error: `--deadline: ${durationProblemText(d.error)}` };
    deadlineMs = d.value;
  }
  let clusters: string[] | undefined;
  const clustersText = flagValue(a, "clusters");
  if (clustersText !== undefined) {
    clusters = clustersText.split(",").map((c) => c.trim());
    const bad = clusters.find((c) => dnsLabelProblem(c));
    if (bad !== undefined) return { ok: false, error: `--clusters ${echo(bad)} is not a cluster name: it ${dnsLabelProblem(bad)}` };
  }
  return {
    ok: true,
    value: {
      target,
      ...(clusters ? { clusters } : {}),
      ...(to ? { to } : {}),
      ...(image !== undefined ? { image } : {}),
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

/** The declared target with flags laid over it, or an ad-hoc one where the catalog allows it, in words. Pure. */
export function resolveTarget(catalog: TargetCatalog, args: StartArgs): ParseResult<Target> {
  const r = resolveTargetData(catalog, args);
  return r.ok ? r : { ok: false, error: startRefusalText(r.error) };
}

export const startCommand: Command<StartArgs> = {
  name: "start",
  usage: USAGE,
  summary: "start shifting traffic from the stable version to a new one, step by step",
  parse: parseStart,
  async run(deps: CommandDeps, caller: Caller, args: StartArgs): Promise<Reply> {
    const out = await startRollout(deps, caller, args);
    if (!out.ok) return { text: startRefusalReply(out.error), outcome: "refused", audited: true };
    const { rolloutId, stable, canary, steps, autoMs, image } = out.value;
    const deploying = image ? ` Deploying \`${canary}\` (image \`${image}\`) next to \`${stable}\` first; the message shows its pods coming up.` : "";
    const mode = autoMs !== undefined ? ` Automatic: a step every ${formatDuration(autoMs)} while the canary is healthy.` : "";
    const wave = out.value.clusters ? ` A wave through ${out.value.clusters.join(" → ")}, one cluster after the other.` : "";
    return {
      text: `:hourglass_flowing_sand: Starting rollout \`${rolloutId}\`: \`${stable || "(current)"}\` → \`${canary}\`, plan ${steps.join("% → ")}%.${wave}${deploying}${mode} Checking the mesh; the rollout message will appear in this channel.`,
      outcome: "done",
      audited: true,
    };
  },
};
