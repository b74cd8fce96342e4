/**
 * Flagger, as the bot reads it: one GET of the Canary (`flagger.app/v1beta1`, PROGRESSIVE-DELIVERY.md 2.1,
 * 2.2) into a `CanaryReading`: its status (phase, canaryWeight, failedChecks, iterations, the Promoted
 * condition), its analysis settings with Flagger's defaults applied, and which of its webhooks point at this
 * target's gates on the bot. The bot never writes a Canary: Flagger calls the bot (src/app/flagger-gate.ts).
 * A periodic GET, like the Argo Rollouts follower and for the same reasons (src/controllers/argo-rollouts.ts):
 * nothing to resume after a restart, and one GET per target every few seconds is little load.
 */
import { CustomObjectsApi, type KubeConfig } from "@kubernetes/client-node";
import { z } from "zod";
import { FLAGGER_HOOKS, type CanaryAnalysis, type CanaryReading, type FlaggerHook } from "../engine/flagger-types.ts";
import { KubeApiError, kubeCall, DEFAULT_KUBE_TIMEOUT_MS } from "../kube/call.ts";

export const FLAGGER_GROUP = "flagger.app";
export const FLAGGER_VERSION = "v1beta1";

const Int = z.number().int();
const Webhook = z.looseObject({ type: z.string().optional(), url: z.string(), metadata: z.record(z.string(), z.string()).nullish() });

/** The fields of a Canary the bot reads; anything else passes through unread. */
export const CanaryObject = z.looseObject({
  metadata: z.looseObject({ name: z.string() }),
  spec: z.looseObject({
    analysis: z
      .looseObject({
        interval: z.string().optional(),
        threshold: Int.optional(),
        maxWeight: Int.optional(),
        stepWeight: Int.optional(),
        stepWeights: z.array(Int).nullish(),
        iterations: Int.optional(),
        webhooks: z.array(Webhook).nullish(),
      })
      .optional(),
  }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      canaryWeight: Int.optional(),
      failedChecks: Int.optional(),
      iterations: Int.optional(),
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string().optional(), message: z.string().optional() })).nullish(),
    })
    .optional(),
});
export type CanaryObject = z.infer<typeof CanaryObject>;

/** One webhook as the Canary names it: the hook type, where it points, and the token it carries. */
export type CanaryWebhookRef = { type: string; url: string; token?: string; toBot: boolean };

export type CanaryRead = { kind: "ok"; reading: CanaryReading; webhooks: CanaryWebhookRef[] } | { kind: "not-found" } | { kind: "unreadable"; message: string };

/** A Go duration ("1m", "30s", "1m30s", "500ms") in ms, or undefined when Go would not parse it. */
export function goDurationMs(d: string): number | undefined {
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(d)) return undefined;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const m of d.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * unit[m[2]!]!;
  return ms;
}

/** The analysis settings as Flagger applies them (2.1): interval 60 s when unparsable, at least 10 s; threshold >= 1. */
export function analysisOf(spec: CanaryObject["spec"]): CanaryAnalysis {
  const a = spec.analysis ?? {};
  const parsed = a.interval ? goDurationMs(a.interval) : undefined;
  const stepWeights = a.stepWeights ?? [];
  const stepWeight = a.stepWeight ?? 0;
  // With a ladder (and no stepWeight) the maximum is its last rung, capped at 100.
  const maxWeight = stepWeight <= 0 && stepWeights.length ? Math.min(100, stepWeights.at(-1)!) : Math.min(100, a.maxWeight ?? 100);
  return {
    interval: a.interval ?? "",
    intervalMs: parsed === undefined || parsed === 0 ? 60_000 : Math.max(10_000, parsed),
    threshold: Math.max(1, a.threshold ?? 0),
    stepWeight,
    stepWeights,
    maxWeight,
    iterations: Math.max(0, a.iterations ?? 0),
  };
}

/** Whether `url` is this target's path for `type` on the bot (any host: the Canary names the bot's Service). */
export function pointsAtBot(url: string, target: string, type: string): boolean {
  try {
    return new URL(url).pathname.endsWith(`/flagger/${target}/${type}`);
  } catch {
    return false;
  }
}

/** A Canary as the engine sees it, and its webhooks. Pure. */
export function canaryReadingOf(c: CanaryObject, target: string, now: number): { reading: CanaryReading; webhooks: CanaryWebhookRef[] } {
  const st = c.status ?? {};
  const promoted = (st.conditions ?? []).find((x) => x.type === "Promoted");
  const webhooks: CanaryWebhookRef[] = (c.spec.analysis?.webhooks ?? []).map((w) => {
    // An empty type is Flagger's `rollout` hook.
    const type = w.type || "rollout";
    return { type, url: w.url, toBot: pointsAtBot(w.url, target, type), ...(w.metadata?.token !== undefined ? { token: w.metadata.token } : {}) };
  });
  const hooks = FLAGGER_HOOKS.filter((h) => webhooks.some((w) => w.type === h && w.toBot)) as FlaggerHook[];
  return {
    reading: {
      phase: st.phase ?? "",
      canaryWeight: st.canaryWeight ?? 0,
      failedChecks: st.failedChecks ?? 0,
      iterations: st.iterations ?? 0,
      ...(promoted ? { promoted: { status: promoted.status ?? "Unknown", message: promoted.message ?? "" } } : {}),
      analysis: analysisOf(c.spec),
      hooks,
      at: now,
    },
    webhooks,
  };
}

export class FlaggerClient {
  private readonly api: CustomObjectsApi;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  constructor(kubeConfig: KubeConfig, opts: { timeoutMs?: number; now?: () => number } = {}) {
    this.api = kubeConfig.makeApiClient(CustomObjectsApi);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_KUBE_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
  }

  /** The Canary `namespace/name`, read for the target named `target` (whose gate paths its webhooks should name). */
  async read(namespace: string, name: string, target: string): Promise<CanaryRead> {
    let raw: unknown;
    try {
      raw = await kubeCall(
        `read Canary ${namespace}/${name}`,
        (o) => this.api.getNamespacedCustomObject({ group: FLAGGER_GROUP, version: FLAGGER_VERSION, namespace, plural: "canaries", name }, o),
        { timeoutMs: this.timeoutMs },
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.code === 404) return { kind: "not-found" };
      throw err;
    }
    const parsed = CanaryObject.safeParse(raw);
    if (!parsed.success) return { kind: "unreadable", message: parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ") };
    return { kind: "ok", ...canaryReadingOf(parsed.data, target, this.now()) };
  }
}
