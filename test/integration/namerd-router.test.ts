/**
 * NamerdRouter and NamerdClient against the local namerd peer over real HTTP, seeded with the
 * PROTOCOLS.md example namespace `internal`.
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TargetSchema, type Target } from "../../src/engine/target.ts";
import { dtabEquals, leaf, parseDtab, replaceDentry, type Dtab } from "../../src/routers/dtab.ts";
import { NamerdClient, VersionConflict } from "../../src/routers/namerd-client.ts";
import { NamerdRouter, formatAsNamerctl, readStableVersion } from "../../src/routers/namerd.ts";
import { RouterError } from "../../src/routers/router.ts";
import { NamerdPeer } from "../../sandbox/peers/namerd.ts";

const SEED = "/srv => /#/io.l5d.k8s/default/http ; /host => /srv ; /tmp => /srv ; /svc => /host ; /host/world => /srv/world-v1 ;";
const OTHERS = ["/srv => /#/io.l5d.k8s/default/http ;", "/host => /srv ;", "/tmp => /srv ;", "/svc => /host ;"];
const withWorld = (tree: string) => [...OTHERS, `/host/world => ${tree} ;`].join("\n");
const pair = { stable: "world-v1", canary: "world-v2" };

let peer: NamerdPeer;
let router: NamerdRouter;
let target: Target;

const makeTarget = (namerd: Record<string, unknown> = {}): Target =>
  TargetSchema.parse({
    name: "world",
    router: "namerd",
    namerd: { url: peer.url, dtabNamespace: "internal", prefix: "/host/world", ...namerd },
  });

beforeEach(async () => {
  peer = await NamerdPeer.start({ namespaces: { internal: SEED } });
  router = new NamerdRouter({ timeoutMs: 10_000, maxAttempts: 3 });
  target = makeTarget();
});
afterEach(async () => {
  await peer.close();
});

async function rejection(p: Promise<unknown>): Promise<RouterError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(RouterError);
  return err as RouterError;
}

const puts = () => peer.requests.filter((r) => r.method === "PUT");

describe("NamerdRouter: a rollout", () => {
  it("reads the stable version and the current split before starting", async () => {
    expect(await router.validate(target, pair)).toBeUndefined();
    expect(await readStableVersion(target)).toBe("world-v1");
    expect(await router.observe(target, pair)).toEqual({
      canaryPercent: 0,
      version: "AAAAAAAAAAE=",
      raw: "/host/world => /srv/world-v1",
    });
  });

  it("0 -> 10 -> 100 -> finalize rewrites only /host/world, with If-Match, keeping the rest in order", async () => {
    const at10 = await router.apply(target, pair, 10, { canaryPercent: 0 });
    expect(at10).toEqual({
      canaryPercent: 10,
      version: "AAAAAAAAAAI=",
      raw: "/host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2",
    });
    expect(peer.get("internal")!.text).toBe(withWorld("90 * /srv/world-v1 & 10 * /srv/world-v2"));
    expect(puts()).toHaveLength(1);
    expect(puts()[0]!.ifMatch).toBe("AAAAAAAAAAE=");
    expect(puts()[0]!.contentType).toBe("application/dtab");

    // The mesh already holds 10%: a repeated job writes nothing.
    expect((await router.apply(target, pair, 10, { canaryPercent: 10 })).canaryPercent).toBe(10);
    expect(puts()).toHaveLength(1);

    const at100 = await router.apply(target, pair, 100, { canaryPercent: 10 });
    expect(at100.canaryPercent).toBe(100);
    expect(peer.get("internal")!.text).toBe(withWorld("/srv/world-v2"));

    const done = await router.finalize(target, pair, "canary");
    // finalize shows the whole final dtab as namerctl prints it, for the rollout's last message.
    expect(done).toEqual({
      canaryPercent: 100,
      version: "AAAAAAAAAAM=",
      raw: formatAsNamerctl(peer.get("internal")!.dtab, "AAAAAAAAAAM="),
    });
    expect(done.raw.split("\n")).toEqual([
      "# version AAAAAAAAAAM=",
      "/srv         => /#/io.l5d.k8s/default/http ;",
      "/host        => /srv ;",
      "/tmp         => /srv ;",
      "/svc         => /host ;",
      "/host/world  => /srv/world-v2 ;",
    ]);
    expect(peer.writes).toBe(2);
    expect(dtabEquals(peer.get("internal")!.dtab, replaceDentry(parseDtab(SEED), "/host/world", leaf("/srv/world-v2")))).toBe(true);
    expect(await readStableVersion(target)).toBe("world-v2");
  });

  it("abort (finalize stable) from mid-rollout restores the original dtab", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    await router.apply(target, pair, 50, { canaryPercent: 10 });
    expect(peer.get("internal")!.text).toBe(withWorld("50 * /srv/world-v1 & 50 * /srv/world-v2"));
    const back = await router.finalize(target, pair, "stable");
    expect(back.canaryPercent).toBe(0);
    expect(dtabEquals(peer.get("internal")!.dtab, parseDtab(SEED))).toBe(true);
  });

  it("keeps edits to other dentries made between steps", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    peer.edit("internal", (d) => [...replaceDentry(d, "/tmp", leaf("/srv/tmp-v2")), ...parseDtab("/extra => /srv/x")]);
    await router.apply(target, pair, 50, { canaryPercent: 10 });
    expect(peer.get("internal")!.text).toBe(
      [
        "/srv => /#/io.l5d.k8s/default/http ;",
        "/host => /srv ;",
        "/tmp => /srv/tmp-v2 ;",
        "/svc => /host ;",
        "/host/world => 50 * /srv/world-v1 & 50 * /srv/world-v2 ;",
        "/extra => /srv/x ;",
      ].join("\n"),
    );
  });

  it("treats our dentry re-written in another notation (namerd's decimals) as ours", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", parseDtab("/x => 0.90*/srv/world-v1 & 0.10*/srv/world-v2")[0]!.tree));
    expect((await router.apply(target, pair, 50, { canaryPercent: 10 })).canaryPercent).toBe(50);
  });
});

describe("NamerdRouter: other writers", () => {
  it("retries after a 412 caused by an edit of another dentry between our read and write, keeping that edit", async () => {
    peer.beforeNext("PUT", () => peer.edit("internal", (d) => replaceDentry(d, "/tmp", leaf("/srv/tmp-v2"))));
    const out = await router.apply(target, pair, 10, { canaryPercent: 0 });
    expect(puts().map((r) => [r.ifMatch, r.status])).toEqual([
      ["AAAAAAAAAAE=", 412],
      ["AAAAAAAAAAI=", 204],
    ]);
    expect(out.version).toBe("AAAAAAAAAAM=");
    expect(peer.get("internal")!.text).toBe(
      [
        "/srv => /#/io.l5d.k8s/default/http ;",
        "/host => /srv ;",
        "/tmp => /srv/tmp-v2 ;",
        "/svc => /host ;",
        "/host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2 ;",
      ].join("\n"),
    );
  });

  it("refuses with drift when someone edited /host/world by hand, and writes nothing", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", leaf("/srv/world-v3")));
    const before = peer.get("internal")!;
    const err = await rejection(router.apply(target, pair, 50, { canaryPercent: 10 }));
    expect(err.code).toBe("drift");
    expect(err.message).toBe(
      "someone changed /host/world in dtab internal: expected /host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2 " +
        "(what the bot last wrote), found /host/world => /srv/world-v3",
    );
    // Abort does not overwrite a person's destination either.
    expect((await rejection(router.finalize(target, pair, "stable"))).code).toBe("drift");
    expect((await rejection(router.observe(target, pair))).code).toBe("drift");
    expect(peer.writes).toBe(1);
    expect(peer.get("internal")).toEqual(before);
  });

  it("refuses with drift when the hand edit lands between our read and our write (412, then re-read)", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    peer.beforeNext("PUT", () => peer.edit("internal", (d) => replaceDentry(d, "/host/world", leaf("/srv/world-v1"))));
    const err = await rejection(router.apply(target, pair, 50, { canaryPercent: 10 }));
    expect(err.code).toBe("drift");
    expect(err.message).toContain("found /host/world => /srv/world-v1");
    expect(puts().map((r) => r.status)).toEqual([204, 412]);
    expect(peer.get("internal")!.text).toBe(withWorld("/srv/world-v1"));
  });

  it("gives up with conflict when the dtab keeps changing", async () => {
    for (let i = 0; i < 3; i++) peer.beforeNext("PUT", () => peer.edit("internal", (d) => [...d]));
    const err = await rejection(router.apply(target, pair, 10, { canaryPercent: 0 }));
    expect(err.code).toBe("conflict");
    expect(err.transient).toBe(true);
    expect(err.message).toBe("dtab internal kept changing under us: gave up after 3 attempts");
    expect(peer.get("internal")!.text).toBe(withWorld("/srv/world-v1"));
  });

  it("reports drift when the read-back differs from what was written", async () => {
    peer.beforeNext("PUT", () => peer.beforeNext("GET", () => peer.edit("internal", (d) => replaceDentry(d, "/host/world", leaf("/srv/world-v3")))));
    const err = await rejection(router.apply(target, pair, 10, { canaryPercent: 0 }));
    expect(err.code).toBe("drift");
    expect(err.message).toBe("wrote /host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2 to dtab internal but read back /host/world => /srv/world-v3");
  });

  it("without `expect`, starts from any split between the pair but not from another destination", async () => {
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", parseDtab("/x => 3*/srv/world-v1 & 1*/srv/world-v2")[0]!.tree));
    expect((await router.apply(target, pair, 10)).canaryPercent).toBe(10);
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", leaf("/srv/world-v9")));
    const err = await rejection(router.apply(target, pair, 10));
    expect(err.code).toBe("drift");
    expect(err.message).toContain("expected a split between /srv/world-v1 and /srv/world-v2, found /host/world => /srv/world-v9");
  });
});

describe("NamerdRouter: finalize with expect (Finish)", () => {
  it("refuses with drift when the dentry no longer holds what the bot verified, and writes nothing", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    await router.apply(target, pair, 100, { canaryPercent: 10 });
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", parseDtab("/x => 50 * /srv/world-v1 & 50 * /srv/world-v2")[0]!.tree));
    const before = peer.get("internal");
    const err = await rejection(router.finalize(target, pair, "canary", { expect: { canaryPercent: 100 } }));
    expect([err.code, err.message]).toEqual([
      "drift",
      "someone changed /host/world in dtab internal: expected /host/world => /srv/world-v2 (what the bot last verified, 100% canary), " +
        "found /host/world => 50 * /srv/world-v1 & 50 * /srv/world-v2",
    ]);
    expect(puts()).toHaveLength(2);
    expect(peer.get("internal")).toEqual(before);
    expect((await router.observe(target, pair)).canaryPercent).toBe(50);

    // Re-apply over the edit, then Finish: the dentry is /srv/world-v2 for good.
    await router.apply(target, pair, 100, { canaryPercent: 50 });
    const done = await router.finalize(target, pair, "canary", { expect: { canaryPercent: 100 } });
    expect(done.canaryPercent).toBe(100);
    expect(peer.get("internal")!.text).toBe(withWorld("/srv/world-v2"));
  });

  it("refuses another destination as well", async () => {
    await router.apply(target, pair, 100, { canaryPercent: 0 });
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", leaf("/srv/world-v3")));
    expect((await rejection(router.finalize(target, pair, "canary", { expect: { canaryPercent: 100 } }))).code).toBe("drift");
    expect(puts()).toHaveLength(1);
  });

  it("takes the verified percent in another notation as its own and writes /srv/<canary>", async () => {
    await router.apply(target, pair, 100, { canaryPercent: 0 });
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", parseDtab("/x => 0 * /srv/world-v1 & 1 * /srv/world-v2")[0]!.tree));
    const done = await router.finalize(target, pair, "canary", { expect: { canaryPercent: 100 } });
    expect(done.canaryPercent).toBe(100);
    expect(peer.get("internal")!.text).toBe(withWorld("/srv/world-v2"));
  });
});

describe("NamerdRouter: forced finalize (a person chose Abort)", () => {
  it("writes the stable dentry over a hand edit, touching no other dentry, with If-Match, and reads it back", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    peer.edit("internal", (d) => [...replaceDentry(d, "/host/world", leaf("/srv/world-v3")), ...parseDtab("/extra => /srv/x")]);
    // Without force the hand edit is drift and nothing is written.
    expect((await rejection(router.finalize(target, pair, "stable"))).code).toBe("drift");
    expect(puts()).toHaveLength(1);

    const back = await router.finalize(target, pair, "stable", { force: true });
    expect(back.canaryPercent).toBe(0);
    expect(peer.get("internal")!.text).toBe([...OTHERS, "/host/world => /srv/world-v1 ;", "/extra => /srv/x ;"].join("\n"));
    expect(puts().map((r) => [r.ifMatch, r.status])).toEqual([
      ["AAAAAAAAAAE=", 204],
      ["AAAAAAAAAAM=", 204],
    ]);
    expect(back.raw).toBe(formatAsNamerctl(peer.get("internal")!.dtab, peer.get("internal")!.version));
    // Already there: a repeated abort writes nothing.
    await router.finalize(target, pair, "stable", { force: true });
    expect(puts()).toHaveLength(2);
  });

  it("still retries a 412 from an edit of another dentry, keeping that edit", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", leaf("/srv/world-v3")));
    peer.beforeNext("PUT", () => peer.edit("internal", (d) => replaceDentry(d, "/tmp", leaf("/srv/tmp-v2"))));
    await router.finalize(target, pair, "stable", { force: true });
    expect(
      puts()
        .slice(1)
        .map((r) => r.status),
    ).toEqual([412, 204]);
    expect(peer.get("internal")!.text).toBe(
      ["/srv => /#/io.l5d.k8s/default/http ;", "/host => /srv ;", "/tmp => /srv/tmp-v2 ;", "/svc => /host ;", "/host/world => /srv/world-v1 ;"].join("\n"),
    );
  });

  it("does not re-create a dentry someone removed", async () => {
    peer.edit("internal", (d) => d.filter((e) => e.prefix.join("/") !== "host/world"));
    const before = peer.get("internal");
    const err = await rejection(router.finalize(target, pair, "stable", { force: true }));
    expect([err.code, err.message]).toEqual(["not-found", "dtab internal has no dentry for /host/world"]);
    expect(puts()).toEqual([]);
    expect(peer.get("internal")).toEqual(before);
  });

  it("begins rollouts with a test stage and discovers the stable from the dentry", async () => {
    expect(router.hasTestStage).toBe(true);
    expect(await router.discoverStable(target)).toBe("world-v1");
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    expect((await rejection(router.discoverStable(target))).code).toBe("invalid");
  });
});

describe("NamerdRouter: namerd failing", () => {
  it("503 on read -> unavailable, and nothing written", async () => {
    peer.failNext({ method: "GET", status: 503 });
    const err = await rejection(router.apply(target, pair, 10, { canaryPercent: 0 }));
    expect(err.code).toBe("unavailable");
    expect(err.transient).toBe(true);
    expect(err.message).toBe("namerd failed reading dtab 'internal' with 503: namerd: injected 503");
    expect(peer.writes).toBe(0);
  });

  it("503 on the write -> unavailable, and the dtab is unchanged; the retry succeeds", async () => {
    peer.failNext({ method: "PUT", status: 503 });
    expect((await rejection(router.apply(target, pair, 10, { canaryPercent: 0 }))).code).toBe("unavailable");
    expect(peer.get("internal")!.text).toBe(withWorld("/srv/world-v1"));
    expect((await router.apply(target, pair, 10, { canaryPercent: 0 })).canaryPercent).toBe(10);
  });

  it("unreachable namerd -> unavailable; back after restart", async () => {
    await peer.stop();
    const err = await rejection(router.observe(target, pair));
    expect(err.code).toBe("unavailable");
    expect(err.message).toBe(`namerd is unreachable (GET ${peer.url}/api/1/dtabs/internal): ECONNREFUSED`);
    expect(await router.validate(target, pair)).toBe(err.message);
    await peer.restart();
    expect((await router.observe(target, pair)).canaryPercent).toBe(0);
  });

  it("a namerd slower than the timeout -> unavailable", async () => {
    const quick = new NamerdRouter({ timeoutMs: 150 });
    peer.failNext({ method: "GET", delayMs: 600 });
    const err = await rejection(quick.observe(target, pair));
    expect(err.code).toBe("unavailable");
    expect(err.message).toBe(`namerd did not answer GET ${peer.url}/api/1/dtabs/internal within 150 ms`);
  });

  it("a dropped connection -> unavailable", async () => {
    peer.failNext({ drop: true });
    expect((await rejection(router.observe(target, pair))).code).toBe("unavailable");
  });
});

describe("NamerdRouter: validation and hints", () => {
  it("names the problem: missing namespace, missing dentry, foreign destination, shadowing, same versions", async () => {
    expect(await router.validate(makeTarget({ dtabNamespace: "missing" }), pair)).toBe("namerd has no dtab namespace 'missing'");
    expect(await router.validate(makeTarget({ prefix: "/host/moon" }), pair)).toBe(
      "dtab internal has no dentry for /host/moon: add `/host/moon => /srv/world-v1` first (the bot only rewrites an existing dentry)",
    );
    expect(await router.validate(target, { stable: "world-v1", canary: "world-v1" })).toBe("stable and canary are both world-v1");

    peer.edit("internal", (d) => replaceDentry(d, "/host/world", leaf("/srv/world-v3")));
    expect(await router.validate(target, pair)).toBe("dtab internal: /host/world => /srv/world-v3 does not route to world-v1");
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", parseDtab("/x => /srv/world-v1 | /srv/world-v2")[0]!.tree));
    expect(await router.validate(target, pair)).toBe(
      "dtab internal: /host/world => /srv/world-v1 | /srv/world-v2 is not a split between world-v1 and world-v2",
    );

    peer.seed("internal", `${SEED} /host/* => /srv/elsewhere`);
    expect(await router.validate(target, pair)).toBe("dtab internal: /host/* => /srv/elsewhere comes after /host/world and takes precedence over it");
  });

  it("observe: missing namespace and missing dentry are not-found", async () => {
    const ns = await rejection(router.observe(makeTarget({ dtabNamespace: "missing" }), pair));
    expect([ns.code, ns.message]).toEqual(["not-found", "namerd has no dtab namespace 'missing'"]);
    const dentry = await rejection(router.observe(makeTarget({ prefix: "/host/moon" }), pair));
    expect([dentry.code, dentry.message]).toEqual(["not-found", "dtab internal has no dentry for /host/moon"]);
  });

  it("readStableVersion refuses a split and a destination outside the dst pattern", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    const split = await rejection(readStableVersion(target));
    expect(split.message).toBe(
      "dtab internal: /host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2 is not a single destination (a rollout may be under way); name the stable version with --from",
    );
    await router.finalize(target, pair, "stable");
    const other = await rejection(readStableVersion(makeTarget({ dst: "/svc/{version}" })));
    expect(other.message).toBe("dtab internal: /host/world => /srv/world-v1 does not match the dst pattern /svc/{version}");
    peer.edit("internal", (d) => replaceDentry(d, "/host/world", leaf("/srv/world-v1/http")));
    expect(await readStableVersion(makeTarget({ dst: "/srv/{version}/http" }))).toBe("world-v1");
  });

  it("testRequestHint gives an l5d-dtab curl for one request", () => {
    expect(router.testRequestHint(makeTarget({ ingressUrl: "http://world.example.com/" }), pair)).toBe(
      "curl -H 'l5d-dtab: /host/world => /srv/world-v2' 'http://world.example.com/'\n" +
        "The l5d-dtab header is appended to namerd's dtab for that one request only; other traffic is unaffected.",
    );
    expect(router.testRequestHint(target, pair)).toMatch(/^curl -H 'l5d-dtab: \/host\/world => \/srv\/world-v2' 'http:\/\/<linkerd-ingress>\/'\n/);
  });

  it("formatAsNamerctl prints like `namerctl dtab get`", async () => {
    await router.apply(target, pair, 10, { canaryPercent: 0 });
    const { dtab, version } = peer.get("internal")!;
    expect(formatAsNamerctl(dtab, version)).toBe(
      [
        "# version AAAAAAAAAAI=",
        "/srv         => /#/io.l5d.k8s/default/http ;",
        "/host        => /srv ;",
        "/tmp         => /srv ;",
        "/svc         => /host ;",
        "/host/world  => 90.00*/srv/world-v1 & 10.00*/srv/world-v2 ;",
      ].join("\n"),
    );
    expect(formatAsNamerctl([], "")).toBe("");
  });
});

describe("NamerdClient", () => {
  const client = () => new NamerdClient({ url: `${peer.url}/`, timeoutMs: 10_000 });

  it("lists namespaces and reads a dtab with its ETag", async () => {
    peer.seed("default", "/a => 0.9*/b & 0.1*/c");
    expect(await client().listNamespaces()).toEqual(["default", "internal"]);
    const { dtab, version } = await client().getDtab("default");
    expect(version).toBe("AAAAAAAAAAE=");
    expect(dtabEquals(dtab, parseDtab("/a => 90*/b & 10*/c"))).toBe(true);
    expect(peer.requests.at(-1)!.accept).toBe("application/json");
  });

  it("without an ETag on GET, takes the version from HEADs around a second GET", async () => {
    peer.omitEtagOnGet();
    const { dtab, version } = await client().getDtab("internal");
    expect(version).toBe("AAAAAAAAAAE=");
    expect(dtabEquals(dtab, parseDtab(SEED))).toBe(true);
    expect(peer.requests.map((r) => r.method)).toEqual(["GET", "HEAD", "GET", "HEAD"]);
  });

  it("PUT with a stale version is a VersionConflict (a RouterError 'conflict')", async () => {
    const c = client();
    const { dtab, version } = await c.getDtab("internal");
    peer.edit("internal", (d) => [...d]);
    const err = await rejection(c.putDtab("internal", dtab, version));
    expect(err).toBeInstanceOf(VersionConflict);
    expect(err.code).toBe("conflict");
  });

  it("404 for If-Match on a missing namespace is not-found", async () => {
    const err = await rejection(client().putDtab("missing", parseDtab("/a => /b"), "AAAAAAAAAAE="));
    expect([err.code, err.message]).toEqual(["not-found", "namerd has no dtab namespace 'missing'"]);
  });

  it("400 is rejected, with namerd's message", async () => {
    // A label with a space cannot come out of the parser; built by hand it prints as text namerd refuses.
    const bad: Dtab = [{ prefix: ["host", "world"], tree: { kind: "leaf", path: ["srv world-v2"] } }];
    const err = await rejection(client().putDtab("internal", bad));
    expect(err.code).toBe("rejected");
    expect(err.message).toBe("namerd rejected writing dtab 'internal' (400): ';' or end of input expected but 'w' found at '/host/world => /srv [w]orld-v2 ;'");
  });

  it("writes JSON when asked", async () => {
    const c = new NamerdClient({ url: peer.url, format: "json" });
    await c.putDtab("internal", parseDtab("/a => 90 * /b & 10 * /c"));
    expect(peer.requests.at(-1)!.contentType).toBe("application/json");
    expect(JSON.parse(peer.requests.at(-1)!.body)).toEqual([{ prefix: "/a", dst: "90 * /b & 10 * /c" }]);
    expect(peer.get("internal")!.text).toBe("/a => 90 * /b & 10 * /c ;");
  });

  it("a URL that is not namerd (200 with something else) is invalid, not a crash", async () => {
    const bodies = ["<html>hello</html>", '{"dtabs":[]}'];
    const server = createServer((_req, res) => res.writeHead(200, { "content-type": "text/html" }).end(bodies.shift()));
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    try {
      const c = new NamerdClient({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
      const html = await rejection(c.getDtab("internal"));
      expect([html.code, html.message]).toEqual(["invalid", "namerd answered dtab 'internal' with something that is not JSON: <html>hello</html>"]);
      const shape = await rejection(c.getDtab("internal"));
      expect(shape.code).toBe("invalid");
      expect(shape.message).toMatch(/^namerd answered dtab 'internal' in an unexpected shape: /);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
