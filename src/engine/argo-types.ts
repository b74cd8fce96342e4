/** The data of a rollout Argo Rollouts runs (see argo.ts): kept apart so the record can name it without a cycle. Pure. */

export type ArgoStep =
  | { kind: "setWeight"; weight: number }
  | { kind: "pause"; durationMs?: number }
  | { kind: "analysis"; templates: string[] }
  | { kind: "setHeaderRoute"; name: string }
  | { kind: "setMirrorRoute"; name: string }
  | { kind: "setCanaryScale" }
  | { kind: "experiment" }
  | { kind: "plugin"; name: string };

export type ArgoMetric = { name: string; phase: string; last?: string; successful: number; failed: number; count: number };
export type ArgoAnalysis = { name: string; phase: string; message?: string; metrics: ArgoMetric[] };

/** What a viewer needs of one Rollout (PROGRESSIVE-DELIVERY.md 1.4, 1.8), read at one moment. */
export type ArgoState = {
  generation: number;
  /** status.observedGeneration (a string on the wire); null before the controller saw the object. */
  observedGeneration: number | null;
  /** Annotation rollout.argoproj.io/revision. */
  revision: string;
  /** status.currentPodHash: the revision's pod-template hash. */
  podHash: string;
  /** status.stableRS. */
  stableHash: string;
  image?: string;
  steps: ArgoStep[];
  /** status.currentStepIndex (0 without steps); == steps.length when every step is done. */
  stepIndex: number;
  phase: string;
  message: string;
  /** spec.paused: a person paused it. */
  paused: boolean;
  pauseReasons: { reason: string; startTime: number }[];
  /** A timed pause step ends (and the controller moves on by itself) at this time. */
  pauseEndsAt?: number;
  abort: boolean;
  /** status.abortedAt is set: the controller has carried the abort out (its message then says why). */
  abortReconciled?: boolean;
  weights?: { canary: number; stable: number };
  replicas: { desired: number; ready: number; updated: number; available: number };
  analysis?: ArgoAnalysis;
};

/** The plugin's commands the bot sends (`resume`: Argo CD's resume action; the plugin has none). */
export type ArgoAction = "promote" | "promote-full" | "abort" | "retry" | "pause" | "resume";

/** Something the controller did (or a person asked), for the thread, as data. */
export type ArgoChange =
  | { code: "step"; index: number; total: number; step?: ArgoStep }
  | { code: "paused"; reason: string; endsAt?: number }
  | { code: "unpaused" }
  | { code: "weights"; from: number; to: number }
  | { code: "analysis"; name: string; phase: string; message?: string }
  | { code: "aborted"; message: string }
  | { code: "retried" }
  | { code: "degraded"; message: string }
  | { code: "completed" }
  | { code: "superseded"; by: string }
  | { code: "sent"; action: ArgoAction; step: number }
  | { code: "not-sent"; action: ArgoAction; step: number; why: NotSentWhy; now?: number; message?: string };

/** The bot's bookkeeping beside the controller's state. */
export type ArgoRecord = {
  state: ArgoState;
  /** A person's decision the worker has yet to send, judged against step `step` of revision `podHash`. */
  pending?: { action: ArgoAction; step: number; seq: number; by: string; at: number };
  /**
   * The last request sent, until the controller is seen to act on it: a second Promote on the same step in
   * between would skip a step, so it is refused (for at most a minute, in case the controller never does).
   */
  sent?: { action: ArgoAction; step: number; podHash: string; by: string; at: number; seen?: true };
  /** The first person who acted on this revision: the "starter" for the two-person rule. */
  firstActor?: string;
  /** Who last acted from Slack (mentioned in alerts when the target names no group). */
  lastActor?: string;
  /** Number of decisions taken: pending.seq. */
  seq: number;
};

/** Why a decided request was not sent: the Rollout moved on, changed revision or went away, Abort came first, or the API refused it. */
export type NotSentWhy = "moved-on" | "new-revision" | "not-found" | "no-op" | "aborted" | "refused";
