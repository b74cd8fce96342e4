import { targetKeyProblem } from "../src/engine/target.ts";
import { parseRolloutId } from "../src/engine/rollout.ts";
import { echo } from "../src/slack/views/format.ts";

/**
 * What is wrong with a typed rollout id (`backend-svc#3`) or target name, naming the part at fault and,
 * when only upper case is, the name meant; undefined when it is well-formed. Pure.
 */
export function refProblem(ref: string): string | undefined {
  const lower = ref.toLowerCase();
  const meant = lower !== ref && !refProblem(lower) ? ` (names are lower-case: ${echo(lower)})` : "";
  if (!ref.includes("#")) {
    const problem = targetKeyProblem(ref);
    return problem ? `${echo(ref)} is not a target name: it ${problem}${meant}` : undefined;
  }
  if (parseRolloutId(ref)) return undefined;
  const hash = ref.lastIndexOf("#");
  const target = ref.slice(0, hash);
  const seq = ref.slice(hash + 1);
  const targetProblem = targetKeyProblem(target);
  const why = targetProblem
    ? `its target ${echo(target)} is not a valid name: it ${targetProblem}`
    : `${echo(seq)} after the \`#\` is not a rollout number (1 to 9 digits)`;
  return `${echo(ref)} is not a rollout id: ${why}${meant}. Ids look like \`backend-svc#3\``;
}
