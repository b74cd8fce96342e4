import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { COMMANDS } from "../../commands/index.ts";

/**
 * The Slack app manifest in deploy/ must be one Slack accepts (v2 manifest rules for slash commands) and
 * must match what the bot serves: the /rollout command, interactivity at /slack/events, and only the scopes
 * the code calls for.
 */
const Manifest = z.object({
  _metadata: z.object({ major_version: z.literal(2) }),
  display_information: z.object({ name: z.string().min(1).max(35) }),
  features: z.object({
    bot_user: z.object({ display_name: z.string().min(1).max(80) }),
    slash_commands: z
      .array(
        z.object({
          command: z.string().min(2).max(32).startsWith("/"),
          description: z.string().min(1).max(2000),
          url: z.url(),
          usage_hint: z.string().max(1000).optional(),
        }),
      )
      .min(1),
  }),
  oauth_config: z.object({ scopes: z.object({ bot: z.array(z.string()) }) }),
  settings: z.object({ interactivity: z.object({ is_enabled: z.literal(true), request_url: z.url() }) }),
});

const manifest = Manifest.parse(JSON.parse(readFileSync(new URL("../../deploy/slack-app-manifest.json", import.meta.url), "utf8")));

describe("Slack app manifest", () => {
  it("declares /rollout and interactivity at the receiver's path", () => {
    const rollout = manifest.features.slash_commands.find((c) => c.command === "/rollout");
    expect(rollout).toBeTruthy();
    expect(new URL(rollout!.url).pathname).toBe("/slack/events");
    expect(new URL(manifest.settings.interactivity.request_url).pathname).toBe("/slack/events");
  });

  it("its usage hint names only subcommands that exist", () => {
    const hint = manifest.features.slash_commands[0]!.usage_hint ?? "";
    const named = hint.split("|").map((part) => part.trim().split(/\s+/)[0]);
    const known = new Set(COMMANDS.map((c) => c.name));
    for (const sub of named) expect(known.has(sub!), `${sub} in the usage hint`).toBe(true);
  });

  it("asks only for the scopes the bot uses", () => {
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual(["chat:write", "commands", "usergroups:read"]);
  });
});
