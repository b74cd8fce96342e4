import { describe, expect, it } from "vitest";
import { COMMANDS } from "../../commands/index.ts";
import { completionCatalog, suggest } from "../../sandbox/views/completion.ts";

const catalog = completionCatalog(COMMANDS, ["backend-svc", "world"]);
const texts = (typed: string) => suggest(typed, catalog).map((s) => s.text);

describe("the sandbox command box's completion", () => {
  it("completes subcommands from the real command list", () => {
    expect(texts("st")).toEqual(["start ", "status "]);
    expect(texts("")).toContain("abort ");
    expect(texts("ST")).toEqual(["start ", "status "]);
  });

  it("offers target names where a target goes, then the command's flags", () => {
    expect(texts("start ")).toEqual(["start backend-svc ", "start world "]);
    expect(texts("start w")).toEqual(["start world "]);
    expect(texts("advance b")).toEqual(["advance backend-svc "]);
    expect(texts("start world ")).toContain("start world --to ");
  });

  it("completes flags from the usage line, leaving out those already given", () => {
    expect(texts("start world --t")).toEqual(["start world --to "]);
    const after = texts("start world --to world-v2 --");
    expect(after).toContain("start world --to world-v2 --steps ");
    expect(after).not.toContain("start world --to world-v2 --to ");
  });

  it("offers nothing while a flag's value is typed, nor for an unknown subcommand", () => {
    expect(texts("start world --to wor")).toEqual([]);
    expect(texts("frobnicate ")).toEqual([]);
  });
});
