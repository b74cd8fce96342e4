import { describe, expect, it } from "vitest";
import { parseTargetsFile } from "../../src/config.ts";
import { targetsYaml } from "../../sandbox/seed.ts";
import { Surfaces } from "../../sandbox/peers/slack/surfaces.ts";
import { enteredProblem, overflowOption, pickProblem, ViewValues } from "../../sandbox/views/values.ts";
import { moreMenu } from "../../src/slack/views/promote.ts";
import { startFormView } from "../../src/slack/views/start-form.ts";

/**
 * What the sandbox page may send about a view or an overflow menu is checked against what the bot drew (its
 * real start form and menu), and the Slack peer applies the answer to a submission as Slack does.
 */

const targets = (() => {
  const parsed = parseTargetsFile(
    targetsYaml({
      namerdUrl: "http://127.0.0.1:1/",
      linkerd1AdminUrl: "http://127.0.0.1:2/",
      backendMetrics: { kind: "linkerd1", adminUrl: "http://127.0.0.1:2/" },
      timing: { windowSeconds: 5, refreshSeconds: 5, autoNotice: "2s" },
    }),
    "sandbox targets",
  );
  if (!parsed.ok) throw new Error(parsed.error.join("\n"));
  return [...parsed.value.targets.values()];
})();
const form = startFormView({ targets, channelId: "C0DEPLOYS" }) as { blocks: Record<string, unknown>[] };
const option = (text: string, value: string) => ({ text: { type: "plain_text" as const, text, emoji: true }, value });

describe("what the page sends about the start form", () => {
  it("accepts the state of the form's own inputs, as Slack puts it in view.state.values", () => {
    const values = ViewValues.parse({
      target: { "rollout.form.target": { type: "static_select", selected_option: option("web", "web") } },
      version: { version: { type: "plain_text_input", value: "web-v2" } },
      mode: { mode: { type: "radio_buttons", selected_option: option("Manual", "manual") } },
      deadline: { deadline: { type: "plain_text_input", value: null } },
      channel: { channel: { type: "conversations_select", selected_conversation: "C0DEPLOYS" } },
    });
    expect(enteredProblem(form, values)).toBeUndefined();
  });

  it("names the field, element or option the form does not have", () => {
    const text = (value: string) => ({ type: "plain_text_input" as const, value });
    expect(enteredProblem(form, { nope: { x: text("1") } })).toBe("the form has no field nope");
    expect(enteredProblem(form, { version: { other: text("1") } })).toBe("field version has no plain_text_input other");
    expect(enteredProblem(form, { target: { "rollout.form.target": { type: "static_select", selected_option: option("x", "prod-db") } } })).toBe(
      "field target offers no option prod-db",
    );
    expect(ViewValues.safeParse({ version: { version: { type: "checkboxes", selected_options: [] } } }).success).toBe(false);
  });

  it("lets a pick through only where Slack sends one: a static_select with dispatch_action, and an option it offers", () => {
    expect(pickProblem(form, "target", "web")).toBeUndefined();
    expect(pickProblem(form, "target", "prod-db")).toBe("target offers no option prod-db");
    expect(pickProblem(form, "version", "web-v2")).toBe("the form has no select version");
    const mode = form.blocks.find((b) => b.block_id === "mode")!;
    const noDispatch = { blocks: [{ ...form.blocks.find((b) => b.block_id === "target")!, dispatch_action: false }, mode] };
    expect(pickProblem(noDispatch, "target", "web")).toBe("picking in target sends nothing until the form is submitted");
  });
});

describe("the overflow menu and the modal's answer", () => {
  it("finds an option of the bot's own menu by value, and nothing for a value it does not offer", () => {
    const blocks = [{ type: "actions", block_id: "b1", elements: [{ ...moreMenu(rolloutAt(10), "r#1:1")! }] }];
    expect(overflowOption(blocks, "b1", "rollout.more", "promote:r#1:1")).toEqual({
      action_id: "rollout.more",
      block_id: "b1",
      text: "Skip to 100% (emergency)",
      value: "promote:r#1:1",
    });
    expect(overflowOption(blocks, "b1", "rollout.more", "promote:r#2:1")).toBeUndefined();
    expect(overflowOption(blocks, "b2", "rollout.more", "promote:r#1:1")).toBeUndefined();
  });

  it("keeps a modal open with the errors, replaces it on update, closes it on an empty answer", () => {
    const s = new Surfaces({ teamId: "T1", appId: "A1", botId: "B1" });
    let changes = 0;
    s.onChange(() => changes++);
    const opened = s.open({ trigger_id: s.issueTrigger("U1"), view: form }) as { view: { id: string } };
    const id = opened.view.id;
    expect(s.modalOf("U1")?.id).toBe(id);
    expect(s.modalOf("U2")).toBeUndefined();
    expect(s.answer(id, { response_action: "errors", errors: { deadline: "Not a duration." } })).toEqual({
      closed: false,
      errors: { deadline: "Not a duration." },
    });
    const refused = { type: "modal", title: { type: "plain_text", text: "Not promoted" }, blocks: [] };
    expect(s.answer(id, { response_action: "update", view: refused })).toEqual({ closed: false });
    expect(s.modalOf("U1")?.title).toEqual(refused.title);
    expect(s.answer(id, undefined)).toEqual({ closed: true });
    expect(s.modalOf("U1")).toBeUndefined();
    expect(changes).toBe(3); // opened, updated, closed
  });
});

function rolloutAt(percent: number): Parameters<typeof moreMenu>[0] {
  return { status: "active", appliedPercent: percent, desiredPercent: percent } as Parameters<typeof moreMenu>[0];
}
