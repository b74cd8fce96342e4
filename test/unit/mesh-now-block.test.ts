import { describe, expect, it } from "vitest";
import { meshNowCodeBlock } from "../../src/slack/views/rollout-message.ts";
import { validateBlocks } from "../../sandbox/peers/slack/block-kit-limits.ts";

/** The "Mesh now" rendering of a whole dtab (namerctl's lines) must fit a section's 3000 characters. */
describe("meshNowCodeBlock", () => {
  it("renders a small dtab whole, escaped for mrkdwn", () => {
    expect(meshNowCodeBlock("# version AAAAAAAAAAM=\n/srv  => /#/io.l5d.k8s/default/http ;\n/a    => 1.00*/b & 2.00*/c ;")).toBe(
      "*Mesh now*\n```# version AAAAAAAAAAM=\n/srv  =&gt; /#/io.l5d.k8s/default/http ;\n/a    =&gt; 1.00*/b &amp; 2.00*/c ;```",
    );
  });

  it("keeps whole lines while they fit and says how many were left out", () => {
    const lines = ["# version AAAAAAAAAAM=", ...Array.from({ length: 400 }, (_, i) => `/svc/s${i}  => /srv/s${i}-v1 ;`)];
    const text = meshNowCodeBlock(lines.join("\n"));
    expect(text.length).toBeLessThanOrEqual(3000);
    expect(text.endsWith(" more lines```")).toBe(true);
    const body = text.slice("*Mesh now*\n```".length, -3).split("\n");
    const kept = body.slice(0, -1);
    expect(kept).toEqual(lines.slice(0, kept.length).map((l) => l.replace(/>/g, "&gt;")));
    expect(body.at(-1)).toBe(`… ${lines.length - kept.length} more lines`);
    expect(validateBlocks([{ type: "section", text: { type: "mrkdwn", text } }])).toEqual([]);
  });

  it("fits exactly at the limit and cuts one character past it", () => {
    const line = "x".repeat(100);
    const raw = Array.from({ length: 5 }, () => line).join("\n");
    const whole = meshNowCodeBlock(raw);
    expect(meshNowCodeBlock(raw, whole.length)).toBe(whole);
    const cut = meshNowCodeBlock(raw, whole.length - 1);
    expect(cut.length).toBeLessThanOrEqual(whole.length - 1);
    expect(cut).toContain("… 1 more line```");
  });
});
