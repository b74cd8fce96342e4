import { KubeConfig } from "@kubernetes/client-node";
import { expect } from "vitest";
import { FlaggerClient } from "../../src/controllers/flagger.ts";
import { canaryObject } from "../../sandbox/peers/flagger.ts";
import type { KubeApiPeer } from "../../sandbox/peers/kube-api.ts";

/** Every request the Flagger client makes, against `peer` (for the RBAC test): read a Canary, and one that is not there. */
export async function flaggerFlows(peer: KubeApiPeer, ns: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(peer.kubeconfigPath);
  const client = new FlaggerClient(kc);
  const saved = peer.rbac;
  peer.rbac = undefined; // the person applying the Canary is not the bot
  peer.seed(
    "canaries",
    ns,
    canaryObject("shop", { webhooks: [{ name: "gate", type: "confirm-rollout", url: "http://rollout-bot:8081/flagger/shop/confirm-rollout" }] }),
  );
  peer.rbac = saved;
  const read = await client.read(ns, "shop", "shop");
  expect(read.kind === "ok" && read.reading.hooks).toEqual(["confirm-rollout"]);
  expect(await client.read(ns, "nope", "nope")).toEqual({ kind: "not-found" });
}
