import type { z } from "zod";
import { formatPath, unknownKeys, type UnknownKey } from "../../engine/config-issues.ts";

/**
 * The targets file's problems in words a person can act on, one line each: unknown keys with the key that
 * was probably meant (or where a misplaced one belongs), and every other issue by its path. Pure.
 */
export function describeIssues(schema: z.ZodType, issues: readonly z.core.$ZodIssue[], word: (issue: z.core.$ZodIssue) => string = (i) => i.message): string[] {
  return issues.flatMap((issue) =>
    issue.code === "unrecognized_keys"
      ? unknownKeys(schema, issue).map((u) => `${u.path}: unknown key (${hint(u)})`)
      : [`${formatPath(issue.path) || "(top level)"}: ${word(issue)}`],
  );
}

function hint(u: UnknownKey): string {
  if (u.near) return `did you mean "${u.near}"?`;
  if (u.belongsUnder.length) return `it belongs under ${u.belongsUnder.map((p) => `\`${p}\``).join(" or ")}`;
  return u.known.length ? `known keys here: ${u.known.join(", ")}` : "nothing is allowed here";
}
