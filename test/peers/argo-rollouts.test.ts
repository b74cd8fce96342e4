import { KubeConfig } from "@kubernetes/client-node";
import { afterEach, describe, expect, it } from "vitest";
import { ArgoRolloutsClient } from "../../src/controllers/argo-rollouts.ts";
import { analysisRunType, ArgoRolloutsSim, rolloutObject, rolloutType } from "../../sandbox/peers/argo-rollouts.ts";
import { startKubeApiPeer, type KubeApiPeer } from "../../sandbox/peers/kube-api.ts";
import { crdValidator } from "../support/crd-schema.ts";

/**
 * The Kubernetes peer serving Argo Rollouts' kinds, checked against the upstream CRDs, and the client's
 * fallback for a Rollout CRD without the status subresource (the plugin's: the same body to the main resource).
 */

let peer: KubeApiPeer | undefined;
afterEach(async () => {
  await peer?.close();
  peer = undefined;
});

const start = async (status = true) => {
  peer = await startKubeApiPeer({
    smiFlavour: "none",
    resources: [{ ...rolloutType, statusSubresource: status }, analysisRunType],
    validators: { rollouts: crdValidator("argoproj.io_rollouts.v1.9.1.yaml"), analysisruns: crdValidator("argoproj.io_analysisruns.v1.9.1.yaml") },
  });
  const kc = new KubeConfig();
  kc.loadFromFile(peer.kubeconfigPath);
  return { peer, client: new ArgoRolloutsClient(kc) };
};

describe("Argo Rollouts on the Kubernetes peer", () => {
  it("what the simulated controller writes is valid against the CRDs, and a Rollout the CRD refuses is a 422", async () => {
    const { peer, client } = await start();
    const sim = new ArgoRolloutsSim(peer);
    sim.analysis = "Failed";
    peer.seed(
      "rollouts",
      "prod",
      rolloutObject("shop", { image: "shop:1", steps: [{ setWeight: 10 }, { analysis: { templates: [{ templateName: "sr" }] } }] }),
    );
    sim.tick("prod", "shop");
    peer.edit("rollouts", "prod", "shop", (o) => {
      (o.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]!.image = "shop:2";
    });
    for (let i = 0; i < 3; i++) sim.tick("prod", "shop");
    // Status writes through the API (the bot's) are validated: send one and read everything back.
    expect(
      await client.send("prod", "shop", "retry", {
        podHash: String((peer.get("rollouts", "prod", "shop")!.status as { currentPodHash: string }).currentPodHash),
        step: 0,
      }),
    ).toMatchObject({ sent: true });
    const read = await client.read("prod", "shop");
    expect(read).toMatchObject({ kind: "ok", state: { revision: "2", analysis: { phase: "Failed", metrics: [{ name: "success-rate", failed: 1 }] } } });
    expect(() => peer.seed("rollouts", "prod", rolloutObject("bad", { image: "x", steps: [{ setWeight: "ten" }] }))).toThrow(/setWeight/);
  });

  it("a CRD without the status subresource: /status answers 404 and the same body goes to the Rollout, as the plugin does", async () => {
    const { peer, client } = await start(false);
    peer.seed("rollouts", "prod", rolloutObject("shop", { image: "shop:1", steps: [{ setWeight: 10 }] }));
    new ArgoRolloutsSim(peer).tick("prod", "shop");
    const hash = String((peer.get("rollouts", "prod", "shop")!.status as { currentPodHash: string }).currentPodHash);
    expect(await client.send("prod", "shop", "abort", { podHash: hash, step: 0 })).toMatchObject({ sent: true });
    const patches = peer.mutations("rollouts", "prod", "shop").filter((r) => r.method === "PATCH");
    expect(patches.map((r) => [r.subresource ?? "main", r.status, r.body])).toEqual([
      ["status", 404, { status: { abort: true } }],
      ["main", 200, { status: { abort: true } }],
    ]);
    expect(peer.get("rollouts", "prod", "shop")!.status).toMatchObject({ abort: true });
  });
});
