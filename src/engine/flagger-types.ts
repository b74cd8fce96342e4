/** The data of a Canary that Flagger runs and the bot gates (see flagger.ts): kept apart so the record can name it without a cycle. Pure. */

/** The webhook types that are gates: Flagger reads the answer (PROGRESSIVE-DELIVERY.md 2.3). */
export const FLAGGER_GATES = ["confirm-rollout", "confirm-traffic-increase", "confirm-promotion", "rollback"] as const;
export type FlaggerGate = (typeof FLAGGER_GATES)[number];
/** The gates a person opens with Approve (rollback is opened by Roll back). */
export type FlaggerConfirm = Exclude<FlaggerGate, "rollback">;

/** One webhook call as Flagger makes it: the path says which hook, the body the rest (2.4). */
export type FlaggerCall =
  | { hook: FlaggerGate; name: string; namespace: string; phase: string; checksum: string }
  | { hook: "event"; name: string; namespace: string; phase: string; checksum: string; message: string; warning: boolean }
  /** post-rollout: told after Succeeded or a rollback, with that phase; informational like `event`. */
  | { hook: "post-rollout"; name: string; namespace: string; phase: string; checksum: string };

/** Every path the bot serves for a Canary: the gates, and the hooks it only records. */
export const FLAGGER_HOOKS = [...FLAGGER_GATES, "event", "post-rollout"] as const;
export type FlaggerHook = (typeof FLAGGER_HOOKS)[number];

/** What Flagger did or asked, or a person decided, for the thread, as data. */
export type FlaggerChange =
  | { code: "waiting"; gate: FlaggerConfirm }
  | { code: "opened"; gate: FlaggerConfirm }
  | { code: "passed"; gate: FlaggerConfirm }
  | { code: "halted" }
  | { code: "unhalted" }
  | { code: "rollback-requested" }
  | { code: "rolling-back" }
  | { code: "phase"; phase: string }
  | { code: "event"; message: string; warning: boolean }
  | { code: "superseded"; by: string }
  /** The canary weight moved, as a reading of the Canary's status says (the chart draws it). */
  | { code: "weight"; from: number; to: number }
  /** A person approved every remaining traffic increase of this revision (one Approve answers one increase). */
  | { code: "opened-all"; gate: "confirm-traffic-increase" };

/** Flagger's analysis settings as the Canary's spec gives them (PROGRESSIVE-DELIVERY.md 2.1), defaults applied. */
export type CanaryAnalysis = {
  /** `analysis.interval` as written ("1m"), and in ms as Flagger reads it (unparsable: 60 s; below 10 s: 10 s). */
  interval: string;
  intervalMs: number;
  /** Failed checks before Flagger rolls back (<= 0 reads as 1). */
  threshold: number;
  stepWeight: number;
  /** The explicit weight ladder, used when `stepWeight` is 0. */
  stepWeights: number[];
  /** The weight the canary is taken to before promotion (the ladder's last entry when it is used). */
  maxWeight: number;
  /** Blue/Green and A/B: the number of iterations (0: the canary strategy). */
  iterations: number;
};

/**
 * One reading of the Canary (GET canaries.flagger.app, src/controllers/flagger.ts): its status and analysis
 * settings, and which of the bot's gates its webhooks name. The weight the message shows comes from here.
 */
export type CanaryReading = {
  phase: string;
  canaryWeight: number;
  failedChecks: number;
  iterations: number;
  /** The one condition Flagger keeps, `Promoted`: its status and message. */
  promoted?: { status: string; message: string };
  analysis: CanaryAnalysis;
  /** The hooks whose webhook URL is this target's path on the bot (`/flagger/<target>/<type>`). */
  hooks: FlaggerHook[];
  /** When it was read. */
  at: number;
};

/** The bot's record of one Canary revision (checksum) beside the rollout record. */
export type FlaggerRecord = {
  checksum: string;
  /** The phase Flagger last reported (in a gate call's or event's body). */
  phase: string;
  /** The confirm gate Flagger last found closed and is waiting on. */
  waiting?: FlaggerConfirm;
  /**
   * Gates a person opened for this checksum: answered open at every later call (Flagger repeats them),
   * except a `confirm-traffic-increase` approved for one step (`steps: "one"`), which answers the next call
   * only and is then `used` (each later increase asks again). `steps: "all"`: every remaining increase.
   * An entry without `steps` was recorded before approvals were per step: it stands for every step.
   */
  opened: { gate: FlaggerConfirm; by: string; at: number; steps?: "one" | "all"; used?: number }[];
  /** A person halted it: every confirm gate answers closed until Resume. */
  halted?: { by: string; at: number };
  /** A person asked for a rollback: the rollback gate answers "roll back" from now on. */
  rollback?: { by: string; at: number };
  /** Failed events seen (Flagger's Warning events), the last one's text. */
  warnings: number;
  lastWarning?: string;
  firstActor?: string;
  lastActor?: string;
  /** The Canary as last read while this revision ran (absent until the first reading). */
  canary?: CanaryReading;
};
