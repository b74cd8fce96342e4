import { KubeConfig } from "@kubernetes/client-node";
import { expect } from "vitest";
import { ArgoRolloutsClient } from "../../src/controllers/argo-rollouts.ts";
import { ArgoRolloutsSim, rolloutObject } from "../../sandbox/peers/argo-rollouts.ts";
import type { KubeApiPeer } from "../../sandbox/peers/kube-api.ts";

/**
 * Every request the Argo Rollouts client makes, against `peer` (for the RBAC test): follow a Rollout and
 * its AnalysisRun, then each button's request (promote, promote --full, abort, retry, pause, resume).
 */
export async function argoRolloutsFlows(peer: KubeApiPeer, ns: string): Promise<void> {
  const kc = new KubeConfig();
  kc.loadFromFile(peer.kubeconfigPath);
  const client = new ArgoRolloutsClient(kc);
  const saved = peer.rbac;
  peer.rbac = undefined; // the controller and the person deploying are not the bot
  const sim = new ArgoRolloutsSim(peer);
  peer.seed(
    "rollouts",
    ns,
    rolloutObject("shop", { image: "shop:1", steps: [{ setWeight: 20 }, { analysis: { templates: [{ templateName: "sr" }] } }, { pause: {} }] }),
  );
  sim.tick(ns, "shop");
  peer.edit("rollouts", ns, "shop", (o) => {
    (o.spec as { template: { spec: { containers: { image: string }[] } } }).template.spec.containers[0]!.image = "shop:2";
  });
  sim.tick(ns, "shop");
  sim.tick(ns, "shop");
  sim.tick(ns, "shop");
  peer.rbac = saved;

  const read = await client.read(ns, "shop");
  if (read.kind !== "ok") throw new Error(`read: ${read.kind}`);
  expect(read.state.analysis?.phase).toBe("Successful");
  const at = { podHash: read.state.podHash, step: read.state.stepIndex };
  for (const action of ["pause", "resume", "promote", "abort", "retry", "promote-full"] as const) {
    const st = await client.read(ns, "shop");
    if (st.kind !== "ok") throw new Error(`read: ${st.kind}`);
    expect(await client.send(ns, "shop", action, { ...at, step: Math.min(st.state.stepIndex, st.state.steps.length - 1) }), action).toMatchObject({
      sent: true,
    });
  }
}
