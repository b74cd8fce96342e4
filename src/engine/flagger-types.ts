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
  | { code: "superseded"; by: string };

/** The bot's record of one Canary revision (checksum) beside the rollout record. */
export type FlaggerRecord = {
  checksum: string;
  /** The phase Flagger last reported (in a gate call's or event's body). */
  phase: string;
  /** The confirm gate Flagger last found closed and is waiting on. */
  waiting?: FlaggerConfirm;
  /** Gates a person opened for this checksum: answered open at every later call (Flagger repeats them). */
  opened: { gate: FlaggerConfirm; by: string; at: number }[];
  /** A person halted it: every confirm gate answers closed until Resume. */
  halted?: { by: string; at: number };
  /** A person asked for a rollback: the rollback gate answers "roll back" from now on. */
  rollback?: { by: string; at: number };
  /** Failed events seen (Flagger's Warning events), the last one's text. */
  warnings: number;
  lastWarning?: string;
  firstActor?: string;
  lastActor?: string;
};
