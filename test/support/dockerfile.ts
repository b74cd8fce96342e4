import { readFileSync } from "node:fs";

/** The project's Dockerfile, read as instructions: the image's facts for the tests and the bench. */

export type Instruction = { op: string; args: string; stage: number };

/** Instructions with line continuations joined and comments dropped; `stage` counts FROMs from 0. */
export function parseDockerfile(text: string): Instruction[] {
  const logical = text
    .replace(/\\\r?\n/g, " ")
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  let stage = -1;
  return logical.map((line) => {
    const [op = "", ...rest] = line.split(/\s+/);
    if (op.toUpperCase() === "FROM") stage++;
    return { op: op.toUpperCase(), args: rest.join(" "), stage };
  });
}

export function readDockerfile(): Instruction[] {
  return parseDockerfile(readFileSync(new URL("../../Dockerfile", import.meta.url), "utf8"));
}

/** The environment the runtime stage (the last) sets with `ENV KEY=value ...` (values optionally double-quoted). */
export function runtimeEnv(all: Instruction[] = readDockerfile()): Record<string, string> {
  const last = Math.max(...all.map((i) => i.stage));
  const env: Record<string, string> = {};
  for (const i of all.filter((x) => x.stage === last && x.op === "ENV")) {
    for (const m of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) env[m[1]!] = m[3] ?? m[2]!;
  }
  return env;
}
