/**
 * The namerd peer speaks namerd's dtab API (PROTOCOLS.md section 1, linkerd DtabHandler.scala): checked
 * here with raw fetch so the router's tests can trust it.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { NamerdPeer, versionString } from "../../sandbox/peers/namerd.ts";

const SEED = "/srv => /#/io.l5d.k8s/default/http ; /host => /srv ; /tmp => /srv ; /svc => /host ; /host/world => /srv/world-v1 ;";
const SEED_JSON =
  '[{"prefix":"/srv","dst":"/#/io.l5d.k8s/default/http"},{"prefix":"/host","dst":"/srv"},{"prefix":"/tmp","dst":"/srv"},' +
  '{"prefix":"/svc","dst":"/host"},{"prefix":"/host/world","dst":"/srv/world-v1"}]\n';
const SEED_TEXT = "/srv=>/#/io.l5d.k8s/default/http;/host=>/srv;/tmp=>/srv;/svc=>/host;/host/world=>/srv/world-v1\n";
const V1 = "AAAAAAAAAAE=";
const V2 = "AAAAAAAAAAI=";

let peer: NamerdPeer;
let base: string;

beforeEach(async () => {
  peer = await NamerdPeer.start({ namespaces: { internal: SEED } });
  base = `${peer.url}/api/1/dtabs`;
});
afterEach(async () => {
  await peer.close();
});

const put = (ns: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base}/${ns}`, { method: "PUT", body, headers: { "content-type": "application/dtab", ...headers } });

describe("reading", () => {
  it("lists namespaces as a sorted JSON array", async () => {
    peer.seed("default", "/a => /b");
    const res = await fetch(base);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.text()).toBe('["default","internal"]\n');
  });

  it("GET renders JSON by default with the version as an unquoted base64 ETag", async () => {
    const res = await fetch(`${base}/internal`);
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe(V1);
    expect(versionString(1n)).toBe(V1);
    expect(res.headers.get("content-type")).toBe("application/json");
    expect(await res.text()).toBe(SEED_JSON);
  });

  it("negotiates the first acceptable type in the Accept list", async () => {
    const cases: [string, string, string][] = [
      ["application/dtab", "application/dtab", SEED_TEXT],
      ["text/plain", "text/plain", SEED_TEXT],
      ["application/json", "application/json", SEED_JSON],
      ["text/html, application/dtab;q=0.5, application/json", "application/dtab", SEED_TEXT],
      ["*/*", "application/json", SEED_JSON],
    ];
    for (const [accept, type, body] of cases) {
      const res = await fetch(`${base}/internal`, { headers: { accept } });
      expect(res.headers.get("content-type"), accept).toBe(type);
      expect(await res.text(), accept).toBe(body);
    }
  });

  it("renders weights the way namerd does: two decimals, none for weight 1", async () => {
    peer.seed("w", "/host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2 ; /x => 1 * /a & 0.5 * /b | !");
    const json = await (await fetch(`${base}/w`)).text();
    expect(JSON.parse(json)).toEqual([
      { prefix: "/host/world", dst: "90.00*/srv/world-v1 & 10.00*/srv/world-v2" },
      { prefix: "/x", dst: "/a & 0.50*/b | !" },
    ]);
    const text = await (await fetch(`${base}/w`, { headers: { accept: "application/dtab" } })).text();
    expect(text).toBe("/host/world=>90.00*/srv/world-v1 & 10.00*/srv/world-v2;/x=>/a & 0.50*/b | !\n");
  });

  it("HEAD gives the ETag without a body; both answer 404 for a missing namespace", async () => {
    const head = await fetch(`${base}/internal`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.headers.get("etag")).toBe(V1);
    expect(await head.text()).toBe("");
    expect((await fetch(`${base}/nope`, { method: "HEAD" })).status).toBe(404);
    const get = await fetch(`${base}/nope`);
    expect(get.status).toBe(404);
    expect(await get.text()).toBe("");
  });

  it("answers 404 outside /api/1/dtabs", async () => {
    for (const path of ["/", "/api/2/dtabs", "/dtabs/internal", "/api/1/bind/internal?path=/svc/world"]) {
      const res = await fetch(`${peer.url}${path}`);
      expect(res.status, path).toBe(404);
    }
  });
});

describe("writing", () => {
  it("PUT application/dtab answers 204 without an ETag and bumps the version", async () => {
    const res = await put("internal", "/host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2");
    expect(res.status).toBe(204);
    expect(res.headers.get("etag")).toBeNull();
    expect(peer.get("internal")!.version).toBe(V2);
    expect(peer.get("internal")!.text).toBe("/host/world => 90 * /srv/world-v1 & 10 * /srv/world-v2 ;");
    expect(peer.writes).toBe(1);
  });

  it("PUT application/json (charset parameter allowed) replaces the dtab", async () => {
    const body = JSON.stringify([{ prefix: "/a", dst: "0.9*/b & 0.1*/c" }]);
    const res = await put("internal", body, { "content-type": "application/json; charset=utf-8" });
    expect(res.status).toBe(204);
    expect(peer.get("internal")!.text).toBe("/a => 0.9 * /b & 0.1 * /c ;");
  });

  it("PUT with If-Match: 204 on the current version, 412 on a stale one, 404 without the namespace", async () => {
    expect((await put("internal", "/a => /b", { "if-match": V1 })).status).toBe(204);
    const stale = await put("internal", "/a => /c", { "if-match": V1 });
    expect(stale.status).toBe(412);
    expect(peer.get("internal")!.text).toBe("/a => /b ;");
    // namerd base64-decodes the raw header, so a quoted ETag never matches
    expect((await put("internal", "/a => /c", { "if-match": `"${V2}"` })).status).toBe(412);
    expect((await put("internal", "/a => /c", { "if-match": V2 })).status).toBe(204);
    expect((await put("missing", "/a => /c", { "if-match": V1 })).status).toBe(404);
    expect(peer.get("missing")).toBeUndefined();
  });

  it("PUT without If-Match creates a missing namespace at version 1", async () => {
    expect((await put("fresh", "/a => /b")).status).toBe(204);
    expect(peer.get("fresh")!.version).toBe(V1);
  });

  it("PUT answers 400 for a bad content type or a dtab that does not parse, and changes nothing", async () => {
    const ct = await put("internal", "/a => /b", { "content-type": "application/xml" });
    expect(ct.status).toBe(400);
    expect(await ct.text()).toBe('Invalid Content-Type "application/xml". ');
    const bad = await put("internal", "/host/world => 90 * /srv/world-v1 & 10 /srv/world-v2");
    expect(bad.status).toBe(400);
    expect(await bad.text()).toBe("'*' after the weight 10 expected but '/' found at '/host/world => 90 * /srv/world-v1 & 10 [/]srv/world-v2'");
    const json = await put("internal", '[{"prefix":"/a"}]', { "content-type": "application/json" });
    expect(json.status).toBe(400);
    expect(await json.text()).toBe("");
    expect(peer.get("internal")!.version).toBe(V1);
    expect(peer.writes).toBe(0);
  });

  it("POST creates (204) or refuses an existing namespace (409); DELETE 204 then 404", async () => {
    const create = () => fetch(`${base}/new`, { method: "POST", body: "/a => /b", headers: { "content-type": "application/dtab" } });
    expect((await create()).status).toBe(204);
    expect((await create()).status).toBe(409);
    expect(peer.get("new")!.version).toBe(V1);
    expect((await fetch(`${base}/new`, { method: "DELETE" })).status).toBe(204);
    expect((await fetch(`${base}/new`, { method: "DELETE" })).status).toBe(404);
    expect(peer.get("new")).toBeUndefined();
    expect(peer.writes).toBe(2);
  });

  it("edit() is a person changing the dtab: the version moves", async () => {
    peer.edit("internal", (d) => d.slice(0, 2));
    const res = await fetch(`${base}/internal`, { method: "HEAD" });
    expect(res.headers.get("etag")).toBe(V2);
    expect(peer.get("internal")!.text).toBe("/srv => /#/io.l5d.k8s/default/http ;\n/host => /srv ;");
  });
});

describe("watch", () => {
  it("streams the current dtab, then one rendering per change", async () => {
    const res = await fetch(`${base}/internal?watch=true`, { headers: { accept: "application/dtab" } });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    const readUntil = async (n: number) => {
      while (seen.split("\n").length - 1 < n) seen += decoder.decode((await reader.read()).value);
    };
    await readUntil(1);
    expect(seen).toBe(SEED_TEXT);
    peer.edit("internal", () => "/a => /b");
    peer.edit("internal", () => "/a => /b"); // same text, new version: namerd streams it again
    peer.edit("internal", () => "/a => /c");
    await readUntil(4);
    expect(seen).toBe(`${SEED_TEXT}/a=>/b\n/a=>/b\n/a=>/c\n`);
    await reader.cancel();
  });

  it("streams the namespace list when names come and go", async () => {
    const res = await fetch(`${base}?watch=true`);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let seen = "";
    const readUntil = async (n: number) => {
      while (seen.split("\n").length - 1 < n) seen += decoder.decode((await reader.read()).value);
    };
    await readUntil(1);
    peer.edit("internal", () => "/a => /b"); // no new name: nothing streamed
    peer.seed("default", "/a => /b");
    peer.remove("default");
    await readUntil(3);
    expect(seen).toBe('["internal"]\n["default","internal"]\n["internal"]\n');
    await reader.cancel();
  });
});

describe("test hooks", () => {
  it("logs requests with their status", async () => {
    await fetch(`${base}/internal`, { headers: { accept: "application/json" } });
    await put("internal", "/a => /b", { "if-match": "nope" });
    expect(peer.requests.map((r) => [r.method, r.path, r.status, r.ifMatch])).toEqual([
      ["GET", "/api/1/dtabs/internal", 200, undefined],
      ["PUT", "/api/1/dtabs/internal", 412, "nope"],
    ]);
    expect(peer.requests[0]!.accept).toBe("application/json");
    expect(peer.requests[1]!.body).toBe("/a => /b");
  });

  it("failNext answers 503 for the matching method the given number of times", async () => {
    peer.failNext({ method: "PUT", status: 503, times: 2 });
    expect((await fetch(`${base}/internal`)).status).toBe(200);
    const failed = await put("internal", "/a => /b");
    expect(failed.status).toBe(503);
    expect(await failed.text()).toBe("namerd: injected 503");
    expect((await put("internal", "/a => /b")).status).toBe(503);
    expect((await put("internal", "/a => /b")).status).toBe(204);
    expect(peer.writes).toBe(1);
  });

  it("failNext can delay and drop the connection", async () => {
    peer.failNext({ status: 500, delayMs: 150 });
    const t0 = Date.now();
    expect((await fetch(`${base}/internal`)).status).toBe(500);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    peer.failNext({ drop: true });
    await expect(fetch(`${base}/internal`)).rejects.toThrow();
    expect((await fetch(`${base}/internal`)).status).toBe(200);
  });

  it("beforeNext runs an edit just before the next request of a method", async () => {
    peer.beforeNext("PUT", () => peer.edit("internal", (d) => [...d, ...d.slice(0, 1)]));
    expect((await put("internal", "/a => /b", { "if-match": V1 })).status).toBe(412);
    expect((await put("internal", "/a => /b", { "if-match": V2 })).status).toBe(204);
  });

  it("stop() makes namerd unreachable and restart() brings it back on the same port with its data", async () => {
    const url = peer.url;
    await peer.stop();
    await expect(fetch(`${base}/internal`)).rejects.toThrow();
    await peer.restart();
    expect(peer.url).toBe(url);
    const res = await fetch(`${base}/internal`);
    expect(res.status).toBe(200);
    expect(res.headers.get("etag")).toBe(V1);
  });

  it("omitEtagOnGet strips the ETag from GET but not from HEAD", async () => {
    peer.omitEtagOnGet();
    expect((await fetch(`${base}/internal`)).headers.get("etag")).toBeNull();
    expect((await fetch(`${base}/internal`, { method: "HEAD" })).headers.get("etag")).toBe(V1);
  });
});
