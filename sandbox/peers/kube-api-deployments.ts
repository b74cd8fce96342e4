/**
 * A small Deployment controller for the Kubernetes API peer, so `--image` can be watched coming up: each
 * Deployment gets its pods (core v1, labelled from the pod template, listed by the Deployment's selector),
 * which become ready one after another after a delay; the Deployment's status counts them and carries the
 * `Available` and `Progressing` conditions as the real controller writes them. An image named to fail does:
 *
 *  - containing `does-not-exist`: `ErrImagePull`, then `ImagePullBackOff` ("Back-off pulling image ...");
 *  - containing `crash`: running, then `CrashLoopBackOff` with `lastState.terminated` (reason `Error`, exit 1);
 *  - a pod asking for more than the nodes have (`resources.requests.cpu` of 64 or more, or a `nodeSelector`
 *    value `nowhere`): `PodScheduled=False`, reason `Unschedulable`, the scheduler's "0/3 nodes are available";
 *  - `progressDeadlineSeconds` passing before every replica is available: `Progressing=False`,
 *    reason `ProgressDeadlineExceeded`.
 *
 * Without this controller (the default) the peer marks every Deployment ready as soon as it is written.
 */
import type { KubeObject, ResourceType } from "./kube-api-resources.ts";

/** What the controller uses of the peer (the hooks a test would use too). */
type PeerHooks = {
  list(resource: string, namespace?: string): KubeObject[];
  get(resource: string, namespace: string, name: string): KubeObject | undefined;
  seed(resource: string, namespace: string, object: KubeObject): KubeObject;
  remove(resource: string, namespace: string, name: string): void;
  setStatus(resource: string, namespace: string, name: string, status: Record<string, unknown>): KubeObject;
};

export type DeploymentControllerOptions = {
  /** How long after its creation the first pod is ready; each further one takes as long again. */
  readyAfterMs: number;
  /** How often the controller looks (default 25 ms). */
  tickMs?: number;
  /** Only these Deployments are run by the controller; the others are ready as soon as they are written (the sandbox's seeded ones). */
  only?: (deployment: KubeObject) => boolean;
};

export const podType: ResourceType = {
  group: "",
  versions: ["v1"],
  storageVersion: "v1",
  plural: "pods",
  singular: "pod",
  kind: "Pod",
  namespaced: true,
  shortNames: ["po"],
  custom: false,
};

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The Deployment type when the controller runs: a write leaves status as the controller last reported it. */
export function controlledDeployments(types: ResourceType[], only?: (deployment: KubeObject) => boolean): ResourceType[] {
  return types.map((t) =>
    t.plural === "deployments" && t.group === "apps"
      ? {
          ...t,
          settle(obj: KubeObject) {
            if (only && !only(obj)) return t.settle?.(obj);
            if (!isRecord(obj.status)) obj.status = { observedGeneration: 0, replicas: 0, updatedReplicas: 0, readyReplicas: 0, availableReplicas: 0 };
          },
        }
      : t,
  );
}

type Tracked = { template: string; since: number; pods: { name: string; createdAt: number }[] };

function hash(text: string): string {
  let h = 2166136261;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619) >>> 0;
  return h.toString(36).slice(0, 6).padStart(6, "0");
}

export function startDeploymentController(peer: PeerHooks, opts: DeploymentControllerOptions): { stop(): void } {
  const tracked = new Map<string, Tracked>();
  const tick = () => {
    const now = Date.now();
    const seen = new Set<string>();
    for (const d of peer.list("deployments")) {
      if (opts.only && !opts.only(d)) continue;
      const ns = String(d.metadata?.namespace);
      const name = String(d.metadata?.name);
      const key = `${ns}/${name}`;
      seen.add(key);
      const spec = isRecord(d.spec) ? d.spec : {};
      const replicas = typeof spec.replicas === "number" ? spec.replicas : 1;
      const template = isRecord(spec.template) ? spec.template : {};
      const templateText = JSON.stringify(template);
      let t = tracked.get(key);
      if (!t || t.template !== templateText || t.pods.length !== replicas) {
        // A new template (or count) is a new ReplicaSet: its pods replace the old ones.
        for (const p of t?.pods ?? []) if (peer.get("pods", ns, p.name)) peer.remove("pods", ns, p.name);
        const rs = `${name}-${hash(templateText)}`;
        t = { template: templateText, since: t && t.template === templateText ? t.since : now, pods: [] };
        for (let i = 0; i < replicas; i++) t.pods.push({ name: `${rs}-${i.toString(36).padStart(5, "0")}`, createdAt: now });
        tracked.set(key, t);
      }
      let ready = 0;
      for (const [i, p] of t.pods.entries()) {
        const status = podStatus(template, now - p.createdAt, i, opts.readyAfterMs);
        if (status.ready) ready++;
        const labels = isRecord(template.metadata) && isRecord(template.metadata.labels) ? template.metadata.labels : {};
        const pod: KubeObject = {
          apiVersion: "v1",
          kind: "Pod",
          metadata: {
            name: p.name,
            namespace: ns,
            labels,
            ownerReferences: [{ apiVersion: "apps/v1", kind: "ReplicaSet", name: p.name.replace(/-[^-]+$/, ""), controller: true }],
          },
          spec: isRecord(template.spec) ? template.spec : {},
          status: status.status,
        };
        const current = peer.get("pods", ns, p.name);
        if (!current) peer.seed("pods", ns, pod);
        else if (JSON.stringify(current.status) !== JSON.stringify(pod.status)) peer.setStatus("pods", ns, p.name, status.status);
      }
      const generation = typeof d.metadata?.generation === "number" ? d.metadata.generation : 1;
      const deadlineMs = (typeof spec.progressDeadlineSeconds === "number" ? spec.progressDeadlineSeconds : 600) * 1000;
      const complete = ready >= replicas;
      const progressing = complete
        ? { type: "Progressing", status: "True", reason: "NewReplicaSetAvailable", message: `ReplicaSet has successfully progressed.` }
        : now - t.since > deadlineMs
          ? { type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded", message: `ReplicaSet has timed out progressing.` }
          : { type: "Progressing", status: "True", reason: "ReplicaSetUpdated", message: `ReplicaSet is progressing.` };
      const status = {
        observedGeneration: generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: ready,
        availableReplicas: ready,
        ...(replicas - ready > 0 ? { unavailableReplicas: replicas - ready } : {}),
        conditions: [
          complete
            ? { type: "Available", status: "True", reason: "MinimumReplicasAvailable", message: "Deployment has minimum availability." }
            : { type: "Available", status: "False", reason: "MinimumReplicasUnavailable", message: "Deployment does not have minimum availability." },
          progressing,
        ],
      };
      if (JSON.stringify(d.status) !== JSON.stringify(status)) peer.setStatus("deployments", ns, name, status);
    }
    // A Deployment removed takes its pods with it (the garbage collector, foreground).
    for (const [key, t] of tracked) {
      if (seen.has(key)) continue;
      const ns = key.slice(0, key.indexOf("/"));
      for (const p of t.pods) if (peer.get("pods", ns, p.name)) peer.remove("pods", ns, p.name);
      tracked.delete(key);
    }
  };
  const timer = setInterval(tick, opts.tickMs ?? 25);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}

/** One pod's status `ageMs` after it was created, as the kubelet would report it for this template. */
function podStatus(template: Record<string, unknown>, ageMs: number, index: number, readyAfterMs: number): { ready: boolean; status: Record<string, unknown> } {
  const spec = isRecord(template.spec) ? template.spec : {};
  const containers = Array.isArray(spec.containers) ? spec.containers.filter(isRecord) : [];
  const selector = isRecord(spec.nodeSelector) ? Object.values(spec.nodeSelector) : [];
  const cpu = containers.reduce((n, c) => {
    const req = isRecord(c.resources) && isRecord(c.resources.requests) ? c.resources.requests.cpu : undefined;
    const v = typeof req === "string" ? (req.endsWith("m") ? Number(req.slice(0, -1)) / 1000 : Number(req)) : typeof req === "number" ? req : 0;
    return n + (Number.isFinite(v) ? v : 0);
  }, 0);
  if (cpu >= 64 || selector.includes("nowhere")) {
    return {
      ready: false,
      status: {
        phase: "Pending",
        conditions: [
          {
            type: "PodScheduled",
            status: "False",
            reason: "Unschedulable",
            message:
              cpu >= 64
                ? "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod."
                : "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.",
          },
        ],
      },
    };
  }
  const scheduled = { type: "PodScheduled", status: "True" };
  const pulling = readyAfterMs / 2;
  const statuses = containers.map((c) => {
    const image = String(c.image ?? "");
    const name = String(c.name ?? "");
    if (image.includes("does-not-exist")) {
      const reason = ageMs < pulling ? "ContainerCreating" : ageMs < readyAfterMs ? "ErrImagePull" : "ImagePullBackOff";
      const message =
        reason === "ImagePullBackOff"
          ? `Back-off pulling image "${image}"`
          : reason === "ErrImagePull"
            ? `rpc error: code = NotFound desc = failed to pull and unpack image "${image}": not found`
            : undefined;
      return { name, image, ready: false, started: false, restartCount: 0, state: { waiting: { reason, ...(message ? { message } : {}) } } };
    }
    if (image.includes("crash")) {
      if (ageMs < readyAfterMs)
        return { name, image, ready: false, started: true, restartCount: 0, state: { running: { startedAt: new Date().toISOString() } } };
      const restarts = 1 + Math.floor((ageMs - readyAfterMs) / readyAfterMs);
      return {
        name,
        image,
        ready: false,
        started: false,
        restartCount: restarts,
        state: { waiting: { reason: "CrashLoopBackOff", message: `back-off 10s restarting failed container=${name}` } },
        lastState: { terminated: { exitCode: 1, reason: "Error", startedAt: new Date().toISOString(), finishedAt: new Date().toISOString() } },
      };
    }
    const up = ageMs >= readyAfterMs * (index + 1);
    return {
      name,
      image,
      ready: up,
      started: up,
      restartCount: 0,
      state: up ? { running: { startedAt: new Date().toISOString().replace(/\.\d+Z$/, "Z") } } : { waiting: { reason: "ContainerCreating" } },
    };
  });
  const ready = statuses.length > 0 && statuses.every((s) => s.ready);
  return {
    ready,
    status: {
      phase: ready || statuses.some((s) => s.started) ? "Running" : "Pending",
      conditions: [scheduled, { type: "Ready", status: ready ? "True" : "False" }, { type: "ContainersReady", status: ready ? "True" : "False" }],
      containerStatuses: statuses.map((s) => {
        // startedAt changes each tick; keep the status stable so unchanged pods are not rewritten.
        const state = "running" in s.state ? { running: {} } : s.state;
        const last = "lastState" in s && s.lastState ? { lastState: { terminated: { exitCode: 1, reason: "Error" } } } : {};
        return { ...s, state, ...last };
      }),
    },
  };
}
