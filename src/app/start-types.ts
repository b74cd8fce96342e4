import type { AutoTooFast } from "../engine/refusal.ts";
import type { PolicyRefusal } from "../engine/policy.ts";
import type { Target } from "../engine/target.ts";
import type { FenceRefusal } from "../engine/fence.ts";
import type { RateLimited } from "./rate-limits.ts";
import type { DeployProblem } from "../engine/deploy.ts";
import type { WaveStartRefusal } from "../engine/wave-rollout.ts";

/** What a person asks to start (from `/rollout start` flags, or later a form). */
export type StartRequest = {
  target: string;
  /** The new version; with `image` it may be left out (the next free number after the stable's). */
  to?: string;
  /** `--image`: deploy the new version from the stable's Deployment with this image first. */
  image?: string;
  from?: string;
  steps?: number[];
  namespace?: string;
  router?: Target["router"];
  split?: string;
  /** Automatic steps every this many ms; without it, the target's `auto.enabled` decides. */
  autoMs?: number;
  /** Manual steps asked for explicitly (the form's Mode): the target's `auto.enabled` does not apply. */
  manual?: boolean;
  /** Hold or abort (target setting) when this many ms pass before the rollout ends. */
  deadlineMs?: number;
  /** `--clusters`: a wave target's clusters to run through, in this order (among its declared `clusters:`). */
  clusters?: string[];
};

/** Who asks, and where the answer goes. */
export type Caller = { userId: string; channelId: string; responseUrl?: string };

/** An issue with a target assembled from flags, as zod reports it (views word it). */
export type TargetIssue = { message: string; params?: unknown };

/** Why a start was refused, as data; nothing was written. */
export type StartRefusal =
  | { code: "unknown-target"; target: string; known: string[] }
  | { code: "invalid-target"; target: string; issues: TargetIssue[] }
  | { code: "no-router"; router: Target["router"] }
  /** The target is a Rollout Argo Rollouts runs: a new revision starts when its pod template changes. */
  | { code: "controller-target"; target: string; rollout: string; controller?: "flagger" }
  | PolicyRefusal
  | FenceRefusal
  | RateLimited
  | { code: "stable-required"; target: string }
  | { code: "channel-unseen"; channel: string }
  | { code: "already-stable"; target: string; canary: string }
  | { code: "busy"; id: string; startedBy?: string; percent: number | null; channel?: string }
  | { code: "no-metrics-for-auto"; target: string; byFlag: boolean }
  /** Automatic steps faster than a clean reading can follow a weight change: no stage could rest on its own evidence. */
  | AutoTooFast
  /** `--image` on a target without `deploy: true` (the bot may not create workloads there). */
  | { code: "deploy-not-enabled"; target: string }
  /** `--image` without `--to` and the namespace's Deployments could not be listed to find the next free name. */
  | { code: "deploy-cannot-name"; target: string; why: string }
  | { code: "to-required"; target: string }
  /** `--clusters` names a cluster outside the target's wave, one twice, fewer than two, or the target has no wave. */
  | WaveStartRefusal
  | DeployProblem;

export type Started = {
  rolloutId: string;
  stable: string;
  canary: string;
  steps: number[];
  autoMs?: number;
  firstPercent: number;
  image?: string;
  /** A wave: the clusters it runs through, in order. */
  clusters?: string[];
};
