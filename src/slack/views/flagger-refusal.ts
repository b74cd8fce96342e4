import type { CanaryProblem } from "../../app/flagger-follow.ts";
import { escapeMrkdwn } from "./format.ts";

/** Why a `router: flagger` target cannot work, in the channel's words (said once, again only when it changes). Pure. */
export function flaggerProblemText(target: string, canary: string, out: { why: "not-found" | "unreadable"; message?: string } | CanaryProblem): string {
  switch (out.why) {
    case "not-found":
      return `:x: Target \`${target}\`: there is no Flagger Canary \`${canary}\`. Its gates answer nothing until it exists; fix the targets file (\`flagger.canary\`, \`namespace\`) or create the Canary.`;
    case "unreadable":
      return `:x: Target \`${target}\`: Canary \`${canary}\` could not be read (${escapeMrkdwn(out.message ?? "unexpected shape")}). The gates still answer Flagger's calls; the message cannot show its weight or checks.`;
    case "no-gates":
      return `:warning: Target \`${target}\`: Canary \`${canary}\` has no \`confirm-*\` webhook calling this bot (\`…/flagger/${target}/confirm-rollout\` and the others), so Flagger never asks it. Add the webhooks (README: Flagger).`;
    case "bad-token":
      return `:warning: Target \`${target}\`: Canary \`${canary}\`'s ${out.hooks.map((h) => `\`${h}\``).join(", ")} webhook${out.hooks.length === 1 ? " carries" : "s carry"} no token or another one than this target's in \`metadata.token\`: the bot refuses those calls (401), so Flagger waits. Nothing was changed.`;
  }
}
