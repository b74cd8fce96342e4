/**
 * Flagger in the local peers: the Canary kind (flagger.app/v1beta1, with a status subresource) in the
 * Kubernetes API peer, and a simulated Flagger that runs one Canary's analysis loop as
 * PROGRESSIVE-DELIVERY.md 2.3 says the real one does, calling its webhooks over HTTP with the real body
 * (2.4) and reading the answers as Flagger does (2.5: status <= 202 is success). One `tick` is one run of
 * the loop, so each gate call can be seen; the Canary's status is written back to the peer after each.
 */
import type { KubeApiPeer, KubeObject, ResourceType } from "./kube-api.ts";

export const canaryType: ResourceType = {
  group: "flagger.app",
  versions: ["v1beta1"],
  storageVersion: "v1beta1",
  plural: "canaries",
  singular: "canary",
  kind: "Canary",
  namespaced: true,
  shortNames: ["canary"],
  custom: true,
  statusSubresource: true,
};

export type CanaryWebhook = { name: string; type: string; url: string; timeout?: string; metadata?: Record<string, string> };

/** A canary-strategy Canary with these webhooks, as a person would apply it. */
export function canaryObject(name: string, opts: { webhooks: CanaryWebhook[]; stepWeight?: number; maxWeight?: number; threshold?: number }): KubeObject {
  return {
    apiVersion: "flagger.app/v1beta1",
    kind: "Canary",
    metadata: { name },
    spec: {
      targetRef: { apiVersion: "apps/v1", kind: "Deployment", name },
      service: { port: 80 },
      analysis: {
        interval: "10s",
        threshold: opts.threshold ?? 2,
        maxWeight: opts.maxWeight ?? 50,
        stepWeight: opts.stepWeight ?? 25,
        metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 }, interval: "1m" }],
        webhooks: opts.webhooks,
      },
    },
  };
}

/** What a tick did: each webhook call made (hook type and HTTP status), for tests and the sandbox. */
export type HookCall = { type: string; status: number; phase: string };

export class FlaggerSim {
  phase = "Initialized";
  canaryWeight = 0;
  failedChecks = 0;
  iterations = 0;
  checksum = "";
  /** The last revision this loop ran to an end (Succeeded or Failed). */
  private done = "";
  /** Make the metric checks fail (the sandbox's "make analysis fail"). */
  failing = false;
  readonly calls: HookCall[] = [];

  constructor(
    private readonly kube: KubeApiPeer,
    readonly namespace: string,
    readonly name: string,
  ) {}

  private canary(): KubeObject {
    const c = this.kube.get("canaries", this.namespace, this.name);
    if (!c) throw new Error(`no Canary ${this.namespace}/${this.name}`);
    return c;
  }

  private analysis(): { stepWeight: number; maxWeight: number; threshold: number; webhooks: CanaryWebhook[] } {
    const a = (this.canary().spec as { analysis: { stepWeight?: number; maxWeight?: number; threshold?: number; webhooks?: CanaryWebhook[] } }).analysis;
    return { stepWeight: a.stepWeight ?? 10, maxWeight: a.maxWeight ?? 100, threshold: Math.max(1, a.threshold ?? 1), webhooks: a.webhooks ?? [] };
  }

  /** Back to no revision run yet (the sandbox's reset). */
  reset(): void {
    this.phase = "Initialized";
    this.canaryWeight = this.failedChecks = this.iterations = 0;
    this.checksum = this.done = "";
    this.failing = false;
    this.calls.length = 0;
  }

  /** Run the loop every `ms` (the sandbox), one tick at a time; tests call `tick` themselves. */
  run(ms: number): () => void {
    let busy = false;
    const t = setInterval(() => {
      if (busy) return;
      busy = true;
      this.tick()
        .catch(() => undefined) // a Canary removed by a reset
        .finally(() => (busy = false));
    }, ms);
    return () => clearInterval(t);
  }

  /** A person deployed a new revision: Flagger sees a new pod spec hash (the payload's checksum). */
  deploy(checksum: string): void {
    this.checksum = checksum;
  }

  /** POST the payload to every hook of `type` in order; a gate stops at the first failure (status > 202). */
  private async call(type: string, phase: string, extra: Record<string, string> = {}): Promise<boolean> {
    for (const h of this.analysis().webhooks.filter((w) => w.type === type)) {
      const metadata = { ...h.metadata, ...extra };
      const body = { name: this.name, namespace: this.namespace, phase, checksum: this.checksum, ...(Object.keys(metadata).length ? { metadata } : {}) };
      let status: number;
      try {
        const res = await fetch(h.url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        await res.text();
        status = res.status;
      } catch {
        status = 0;
      }
      this.calls.push({ type, status, phase });
      if (status === 0 || status > 202) return false;
    }
    return true;
  }

  private async event(message: string, warning = false): Promise<void> {
    await this.call("event", this.phase, { eventMessage: message, eventType: warning ? "Warning" : "Normal", timestamp: String(Date.now()) });
  }

  private setPhase(phase: string): void {
    this.phase = phase;
    // setStatusPhase zeroes weight and iterations except while Progressing, Waiting, Promoting (2.2).
    if (!["Progressing", "Waiting", "Promoting"].includes(phase)) {
      this.canaryWeight = 0;
      this.iterations = 0;
    }
    this.kube.setStatus("canaries", this.namespace, this.name, {
      phase,
      canaryWeight: this.canaryWeight,
      failedChecks: this.failedChecks,
      iterations: this.iterations,
      lastAppliedSpec: this.checksum,
      lastTransitionTime: new Date().toISOString(),
      conditions: [{ type: "Promoted", status: phase === "Succeeded" ? "True" : phase === "Failed" ? "False" : "Unknown", reason: phase }],
    });
  }

  private async rollBack(): Promise<void> {
    await this.event(`Canary failed! Scaling down ${this.name}.${this.namespace}`, true);
    this.failedChecks = 0;
    this.done = this.checksum;
    this.setPhase("Failed");
    await this.call("post-rollout", "Failed");
  }

  /** One run of Flagger's loop for this Canary. */
  async tick(): Promise<void> {
    const pending = this.checksum !== "" && this.checksum !== this.done;
    if (!pending) return;
    const running = ["Progressing", "WaitingPromotion", "Promoting", "Finalising"].includes(this.phase);
    if (!running) {
      if (this.phase === "Waiting" && (await this.call("rollback", this.phase))) return this.rollBack();
      if (!(await this.call("confirm-rollout", this.phase))) {
        if (this.phase !== "Waiting") await this.event(`Halt ${this.name}.${this.namespace} advancement waiting for approval confirm-rollout`);
        this.setPhase("Waiting");
        return;
      }
      await this.event(`New revision detected! Scaling up ${this.name}.${this.namespace}`);
      this.failedChecks = 0;
      this.setPhase("Progressing");
      return;
    }
    if (this.phase === "Promoting") {
      await this.event(`Promotion completed! Scaling down ${this.name}.${this.namespace}`);
      this.done = this.checksum;
      this.setPhase("Succeeded");
      await this.call("post-rollout", "Succeeded");
      return;
    }
    // Progressing or WaitingPromotion: the rollback gate, then the checks, then the step.
    if (await this.call("rollback", this.phase)) return this.rollBack();
    const { stepWeight, maxWeight, threshold } = this.analysis();
    if (this.failing && this.canaryWeight > 0) {
      this.failedChecks++;
      await this.event(
        `Halt advancement no values found for metric request-success-rate probably ${this.name}.${this.namespace} is not receiving traffic`,
        true,
      );
      if (this.failedChecks >= threshold) {
        await this.event(`Rolling back ${this.name}.${this.namespace} failed checks threshold reached ${this.failedChecks}`, true);
        return this.rollBack();
      }
      this.setPhase(this.phase);
      return;
    }
    if (this.canaryWeight < maxWeight && this.phase === "Progressing") {
      if (!(await this.call("confirm-traffic-increase", this.phase))) return;
      this.canaryWeight = Math.min(maxWeight, this.canaryWeight + stepWeight);
      await this.event(`Advance ${this.name}.${this.namespace} canary weight ${this.canaryWeight}`);
      this.setPhase("Progressing");
      return;
    }
    if (!(await this.call("confirm-promotion", this.phase))) {
      if (this.phase !== "WaitingPromotion") this.setPhase("WaitingPromotion");
      return;
    }
    await this.event(`Copying ${this.name}.${this.namespace} template spec to ${this.name}-primary.${this.namespace}`);
    this.setPhase("Promoting");
  }
}
