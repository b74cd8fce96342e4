import { readFileSync } from "node:fs";
import { Ajv } from "ajv";
import formats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { COMMANDS } from "../../commands/index.ts";
import { START_SHORTCUT } from "../../src/slack/views/start-form.ts";

/**
 * The Slack app manifests in deploy/slack/ (HTTP and Socket Mode) must be ones Slack accepts: valid against
 * Slack's official JSON Schema (slackapi/manifest-schema, kept in ../shared/reference) and the v2 rules for
 * slash commands. They must match what the bot serves (the /rollout command; commands, clicks, shortcuts
 * and events at /slack/events over HTTP, or no URL at all in Socket Mode) and ask for the scopes and
 * events the open features need, and nothing else.
 */
const Manifest = z.object({
  _metadata: z.object({ major_version: z.literal(2) }),
  display_information: z.object({ name: z.string().min(1).max(35) }),
  features: z.object({
    // The read-only Messages tab takes the direct messages a form's starter gets when an ephemeral is refused.
    app_home: z.object({ home_tab_enabled: z.literal(true), messages_tab_enabled: z.literal(true), messages_tab_read_only_enabled: z.literal(true) }),
    bot_user: z.object({ display_name: z.string().min(1).max(80) }),
    shortcuts: z.array(z.object({ type: z.enum(["global", "message"]), callback_id: z.string() })),
    slash_commands: z
      .array(
        z.object({
          command: z.string().min(2).max(32).startsWith("/"),
          description: z.string().min(1).max(2000),
          url: z.url().optional(),
          usage_hint: z.string().max(1000).optional(),
        }),
      )
      .min(1),
  }),
  oauth_config: z.object({ scopes: z.object({ bot: z.array(z.string()) }) }),
  settings: z.object({
    event_subscriptions: z.object({ request_url: z.url().optional(), bot_events: z.array(z.string()) }),
    interactivity: z.object({ is_enabled: z.literal(true), request_url: z.url().optional() }),
    socket_mode_enabled: z.boolean(),
  }),
});
type Manifest = z.infer<typeof Manifest>;

const read = (name: string): unknown => parseYaml(readFileSync(new URL(`../../deploy/slack/${name}`, import.meta.url), "utf8"));
const http = read("manifest.http.yaml");
const socket = read("manifest.socket-mode.yaml");

/** Slack's schema: the top-level document dispatches on _metadata.major_version to the per-version ones. */
function slackSchemaValidator() {
  const dir = new URL("../../../shared/reference/slack-manifest-schema/", import.meta.url);
  const load = (file: string) => {
    try {
      return JSON.parse(readFileSync(new URL(file, dir), "utf8")) as object;
    } catch (err) {
      throw new Error(`Slack's manifest schema is read from ${dir.pathname} (shared/ beside the repository): ${(err as Error).message}`);
    }
  };
  const ajv = new Ajv({ allErrors: true, strict: false });
  (formats as unknown as (a: Ajv) => void)(ajv);
  // The top-level schema refers to the per-version files by their published URLs; serve them from disk.
  for (const v of ["1.0.0", "2.0.0"])
    ajv.addSchema(load(`manifest.schema.${v}.json`), `https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/manifest.schema.${v}.json`);
  return ajv.compile(load("manifest.schema.json"));
}
const validate = slackSchemaValidator();
const schemaErrors = (doc: unknown) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`));

/** Every URL anywhere in the manifest. */
const urls = (doc: unknown): string[] => JSON.stringify(doc).match(/https?:\/\/[^"]+/g) ?? [];

describe.each([
  ["HTTP", http],
  ["Socket Mode", socket],
] as const)("Slack app manifest (%s)", (_mode, doc) => {
  const manifest: Manifest = Manifest.parse(doc);

  it("is valid against Slack's official manifest schema", () => {
    expect(schemaErrors(doc)).toEqual([]);
  });

  it("its usage hint names only subcommands that exist", () => {
    const hint = manifest.features.slash_commands[0]!.usage_hint ?? "";
    const named = hint.split("|").map((part) => part.trim().split(/\s+/)[0]);
    const known = new Set(COMMANDS.map((c) => c.name));
    for (const sub of named) expect(known.has(sub!), `${sub} in the usage hint`).toBe(true);
  });

  it("asks only for the scopes the bot's features use", () => {
    // commands: /rollout and the global shortcut; chat:write: the rollout messages; usergroups:read:
    // policies naming @groups; files:write: the success-rate chart upload; channels:read, groups:read: who
    // can see a rollout's channel (conversations.info, conversations.members) for reads.
    expect([...manifest.oauth_config.scopes.bot].sort()).toEqual(["channels:read", "chat:write", "commands", "files:write", "groups:read", "usergroups:read"]);
  });

  it("declares the App Home tab with its event, and the New rollout shortcut for the modal", () => {
    expect(manifest.settings.event_subscriptions.bot_events).toEqual(["app_home_opened"]);
    expect(manifest.features.shortcuts).toEqual([expect.objectContaining({ type: "global", callback_id: START_SHORTCUT })]);
  });
});

describe("the two Slack app manifests", () => {
  it("HTTP: /rollout, interactivity and events at the receiver's path, Socket Mode off", () => {
    const m = Manifest.parse(http);
    const rollout = m.features.slash_commands.find((c) => c.command === "/rollout");
    expect(rollout).toBeTruthy();
    expect(new URL(rollout!.url!).pathname).toBe("/slack/events");
    expect(new URL(m.settings.interactivity.request_url!).pathname).toBe("/slack/events");
    expect(new URL(m.settings.event_subscriptions.request_url!).pathname).toBe("/slack/events");
    expect(m.settings.socket_mode_enabled).toBe(false);
  });

  it("Socket Mode: enabled, and no request URL anywhere", () => {
    expect(Manifest.parse(socket).settings.socket_mode_enabled).toBe(true);
    expect(urls(socket)).toEqual([]);
  });

  it("differ only in how Slack reaches the bot", () => {
    const transportless = (doc: unknown) =>
      JSON.parse(JSON.stringify(doc), (key, value: unknown) =>
        key === "url" || key === "request_url" || key === "socket_mode_enabled" ? undefined : value,
      ) as unknown;
    expect(transportless(socket)).toEqual(transportless(http));
  });

  it("the schema check refuses what Slack would refuse", () => {
    const broken = structuredClone(socket) as { features: { shortcuts: { callback_id?: string }[] }; settings: Record<string, unknown> };
    delete broken.features.shortcuts[0]!.callback_id;
    broken.settings.socket_mode = true;
    const errors = schemaErrors(broken).join("\n");
    expect(errors).toContain("must have required property 'callback_id'");
    expect(errors).toContain("must NOT have additional properties");
  });
});
