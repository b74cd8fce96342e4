import type { DriftAuthor, GitBaseline, OwnedBy, OwnershipVerdict, WrittenObject } from "../engine/ownership.ts";
import type { PreflightProblem } from "../engine/preflight.ts";
import type { DeployedObject, Rollout, RolloutEvent } from "../engine/rollout.ts";
import type { DeployFailure, DeployProblem } from "../engine/deploy.ts";

/** One running rollout on an App Home board, with the permalink of its channel message once posted. */
export type BoardRollout = { rollout: Rollout; link?: string };
/** What an App Home board shows: the running rollouts, the recently ended ones and, once, a notice. */
export type Board = { running: BoardRollout[]; ended: Rollout[]; notice?: string };
/**
 * One reading on the success-rate chart (what the reading history keeps); `cluster` is where it was taken
 * (absent: the bot's own cluster).
 */
export type ChartPoint = {
  at: number;
  canaryPercent: number;
  stable?: number;
  canary?: number;
  stableFast?: number;
  canaryFast?: number;
  cluster?: string;
};

type Blocks = Record<string, unknown>[];

/** How `--image`'s problems read in the thread (src/slack/views/deploy-text.ts). */
export type DeployWords = {
  /** Why the new version could not be made (a refused copy, a name taken, a GitOps-owned stable). */
  problem(p: DeployProblem): string;
  /** What Kubernetes reported while the new version came up. */
  failure(f: DeployFailure, deployment: string): string;
  /** The objects the bot made, worded. */
  objects(objects: readonly DeployedObject[], namespace: string): string;
};

/** How the GitOps side of a rollout reads in its thread and on its message (src/slack/views/ownership-text.ts). */
export type GitopsWords = {
  /** `Kind \`namespace/name\`` */
  object(o: Pick<WrittenObject, "kind" | "namespace" | "name">): string;
  /** An owner that leaves the bot's fields alone. */
  ownedButIgnored(v: OwnershipVerdict): string;
  /** Why a start is refused: owners that would put the bot's writes back, with the snippet that stops them. */
  ownershipRefusal(blocked: OwnershipVerdict[]): string;
  /** Who changed the routing object (`split`: the weights found, when known). */
  driftAuthor(by: DriftAuthor, split: string | undefined): string;
  /** What helps instead of Re-apply when a GitOps owner put its state back. */
  revertAdvice(by: DriftAuthor, obj: WrittenObject | undefined): string;
  /** Why an apply was refused: another field manager owns what the bot writes (`what`: the object, worded). */
  ownedBy(what: string, owned: OwnedBy): string;
  /** A field manager's name as people know it. */
  manager(manager: string): string;
  /** What git must hold for one object once the mesh is final. */
  backToGit(b: GitBaseline, result: { differs: boolean; patch: Record<string, unknown> }): string;
};

/**
 * What the worker and its jobs need from the Slack side besides its API clients, lent by src/slack (slackSide
 * in src/slack/side.ts, wired in src/bot.ts): the words and blocks they show, and the workspace's Slack budget
 * as far as a job meets it. The jobs decide what to show and when; the views decide how it reads. So
 * src/queue imports neither the views nor the budget.
 */
export type SlackSide = {
  /** The rollout's channel message. */
  message(r: Rollout): { text: string; blocks: Blocks };
  /** One event of the rollout, as its thread reply. */
  threadReply(r: Rollout, e: RolloutEvent): { text: string; blocks?: Blocks; broadcast: boolean };
  /** To the starter, privately: the start was refused (the record's problem says why). */
  startRejected(r: Rollout): string;
  /** To the starter, privately: Slack refuses the channel message (`slackError`); said in the channel or a DM. */
  cannotPost(r: Rollout, slackError: string, where: "channel" | "dm"): string;
  /** A person's App Home tab. */
  home(board: Board): Record<string, unknown>;
  /** The success-rate chart (SVG) and its words for people who cannot see it. */
  chartSvg(r: Rollout, points: ChartPoint[], now: number): string;
  chartAltText(r: Rollout, points: ChartPoint[]): string;
  gitops: GitopsWords;
  deploy: DeployWords;
  /** Why the Services or workloads are not ready for a rollout (a refused start, a canary that stopped being ready). */
  preflightProblems(problems: PreflightProblem[]): string;
  /**
   * A Slack call the workspace's budget put off: the line it joined and when its turn comes (the job hands
   * the error on and the worker puts it back in line); undefined for any other error.
   */
  turnLater(err: unknown): { bucket: string; at: number } | undefined;
  /** Run a job that comes back for its place in `bucket`'s line, so its first call there claims that place. */
  runBackFor<T>(bucket: string | undefined, run: () => Promise<T>): Promise<T>;
};
