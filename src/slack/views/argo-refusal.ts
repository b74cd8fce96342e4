import { escapeMrkdwn } from "./format.ts";

/** Why a `router: argo-rollouts` target is not followed, in the channel's words. Pure. */
export function argoRefusalText(target: string, rollout: string, out: { why: "not-found" | "blue-green" | "unreadable"; message?: string }): string {
  switch (out.why) {
    case "not-found":
      return `:x: Target \`${target}\`: there is no Argo Rollout \`${rollout}\`. Nothing is followed and nothing was changed; fix the targets file or create the Rollout.`;
    case "blue-green":
      return `:no_entry: Target \`${target}\`: Rollout \`${rollout}\` uses the blue-green strategy, which this bot does not steer (only canary steps). Nothing is followed and nothing was changed.`;
    case "unreadable":
      return `:x: Target \`${target}\`: Rollout \`${rollout}\` could not be read as an Argo Rollout (${escapeMrkdwn(out.message ?? "unexpected shape")}). Nothing was changed.`;
  }
}
