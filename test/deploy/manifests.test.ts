/**
 * Every install docs/install.md offers (each overlay, and the examples that add the Redis, ServiceMonitor and
 * cluster-rbac components) rendered as `kubectl apply -k` would, then: each object valid against the
 * Kubernetes schemas (kubernetes-models ships them, the Prometheus Operator's from its own package) with
 * no unknown field, on a GA API version, and wired together: the bot's security settings and probes, Services and
 * budgets that select the pods, Secret references without values, the transport each overlay promises.
 */
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import * as k8s from "kubernetes-models";
import * as monitoring from "@kubernetes-models/prometheus-operator";
import { EnvSchema, parseTargetsFile } from "../../src/config.ts";
import { kustomizeBuild, strategicMerge, type KubeObject } from "../support/kustomize.ts";
import { modelNameFor, unknownFields } from "../support/kube-strict-fields.ts";

const deployDir = (p: string) => fileURLToPath(new URL(`../../deploy/${p}`, import.meta.url));
const INSTALLS = ["overlays", "examples"].flatMap((kind) => readdirSync(deployDir(kind)).map((d) => `${kind}/${d}`));

type Validatable = new (data: unknown) => { validate(): void };
const MODELS = new Map<string, Validatable>();
(function index(ns: unknown, depth: number) {
  for (const v of Object.values(ns as Record<string, unknown>)) {
    const model = v as { apiVersion?: string; kind?: string };
    if (typeof v === "function" && model.apiVersion && model.kind) MODELS.set(`${model.apiVersion}/${model.kind}`, v as unknown as Validatable);
    else if (v && typeof v === "object" && depth < 3) index(v, depth + 1);
  }
})({ k8s, monitoring }, 0);

/** GA versions only: nothing that a current cluster has removed or will remove. */
const GA = new Set(["v1", "apps/v1", "policy/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "monitoring.coreos.com/v1"]);

/** Custom resources whose schema comes from their own package (no strict field check for these). */
const CUSTOM = new Set(["monitoring.coreos.com/v1/ServiceMonitor"]);

function schemaErrors(o: KubeObject): string | undefined {
  const Model = MODELS.get(`${o.apiVersion}/${o.kind}`);
  if (!Model) return `no schema for ${o.apiVersion} ${o.kind}`;
  try {
    new Model(o).validate();
  } catch (err) {
    return (err as Error).message;
  }
  if (CUSTOM.has(`${o.apiVersion}/${o.kind}`)) return undefined;
  const type = modelNameFor(o.apiVersion, o.kind);
  if (!type) return `no field list for ${o.apiVersion} ${o.kind}`;
  const unknown = unknownFields(o, type);
  return unknown.length ? `unknown fields: ${unknown.join(", ")}` : undefined;
}

type Probe = { httpGet?: { path: string; port: string | number } };
type Container = {
  name: string;
  image: string;
  args?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: {
    runAsNonRoot?: boolean;
    runAsUser?: number;
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
    seccompProfile?: { type: string };
  };
  volumeMounts?: { name: string; mountPath: string }[];
};
type PodSpec = {
  containers: Container[];
  securityContext?: Container["securityContext"];
  topologySpreadConstraints?: { topologyKey: string; labelSelector?: { matchLabels?: Record<string, string> } }[];
  volumes?: { name: string; emptyDir?: object; configMap?: { name: string } }[];
  serviceAccountName?: string;
};
type Workload = KubeObject & {
  spec: {
    replicas?: number;
    selector: { matchLabels: Record<string, string> };
    template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    volumeClaimTemplates?: { metadata: { name: string } }[];
  };
};

const selects = (selector: Record<string, string> | undefined, labels: Record<string, string>) =>
  !!selector && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels[k] === v);
const of = <T extends KubeObject>(objects: KubeObject[], kind: string) => objects.filter((o) => o.kind === kind) as T[];
const bot = (objects: KubeObject[]) => of<Workload>(objects, "Deployment").find((d) => d.metadata.name === "rollout-bot")!;
const botContainer = (objects: KubeObject[]) => bot(objects).spec.template.spec.containers.find((c) => c.name === "rollout-bot")!;
const envOf = (c: Container, name: string) => c.env?.find((e) => e.name === name);

describe.each(INSTALLS)("deploy/%s", (install) => {
  let rendered: Promise<KubeObject[]> | undefined;
  const objects = () => (rendered ??= kustomizeBuild(deployDir(install)));

  it("renders, and every object is valid against its Kubernetes schema on a GA API version", async () => {
    const all = await objects();
    expect(all.length).toBeGreaterThan(5);
    const problems = all.map((o) => [`${o.kind} ${o.metadata.name}`, schemaErrors(o)] as const).filter(([, e]) => e);
    expect(problems).toEqual([]);
    for (const o of all) expect(GA, `${o.kind} ${o.metadata.name}`).toContain(o.apiVersion);
    // Everything lives in the bot's namespace, except cluster-scoped RBAC and RoleBindings granting it elsewhere.
    for (const o of all) {
      if (/^Cluster/.test(o.kind)) expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBeUndefined();
      else if (o.kind === "RoleBinding") expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBeTruthy();
      else expect(o.metadata.namespace, `${o.kind} ${o.metadata.name}`).toBe("rollout-bot");
    }
  });

  it("runs every workload locked down (Pod Security Standard restricted, and a read-only root filesystem)", async () => {
    const workloads = [...of<Workload>(await objects(), "Deployment"), ...of<Workload>(await objects(), "StatefulSet")];
    expect(workloads.length).toBeGreaterThan(0);
    for (const w of workloads) {
      const pod = w.spec.template.spec;
      expect(pod.securityContext?.runAsNonRoot, w.metadata.name).toBe(true);
      expect(pod.securityContext?.seccompProfile?.type, w.metadata.name).toBe("RuntimeDefault");
      for (const c of pod.containers) {
        const sc = { ...pod.securityContext, ...c.securityContext };
        const where = `${w.metadata.name}/${c.name}`;
        expect(Number.isInteger(sc.runAsUser) && sc.runAsUser! > 0, `${where} runAsUser ${sc.runAsUser}`).toBe(true);
        expect(sc.runAsNonRoot, where).toBe(true);
        expect(sc.readOnlyRootFilesystem, where).toBe(true);
        expect(sc.allowPrivilegeEscalation, where).toBe(false);
        expect(sc.capabilities?.drop, where).toEqual(["ALL"]);
        expect(sc.capabilities?.add ?? [], where).toEqual([]);
        expect(sc.seccompProfile?.type, where).toBe("RuntimeDefault");
        expect(c.resources?.requests?.memory && c.resources?.requests?.cpu && c.resources?.limits?.memory, `${where} resources`).toBeTruthy();
        expect(c.livenessProbe && c.readinessProbe, `${where} probes`).toBeTruthy();
        expect(
          (c.ports ?? []).filter((p) => "hostPort" in p),
          `${where} hostPort`,
        ).toEqual([]);
        expect((c.securityContext as { privileged?: boolean } | undefined)?.privileged ?? false, where).toBe(false);
      }
      // The rest of the Pod Security Standard "restricted": no host namespaces, only these volume types.
      const host = pod as { hostNetwork?: boolean; hostPID?: boolean; hostIPC?: boolean };
      expect([host.hostNetwork, host.hostPID, host.hostIPC].filter(Boolean), w.metadata.name).toEqual([]);
      const allowed = ["name", "configMap", "emptyDir", "secret", "persistentVolumeClaim", "projected", "downwardAPI", "csi", "ephemeral"];
      for (const v of pod.volumes ?? [])
        expect(
          Object.keys(v).filter((k) => !allowed.includes(k)),
          `${w.metadata.name} volume ${v.name}`,
        ).toEqual([]);
    }
  });

  it("runs the bot as 2 spread replicas with /healthz and /readyz on the health port 8081, /tmp writable, a budget", async () => {
    const all = await objects();
    const d = bot(all);
    const pod = d.spec.template.spec;
    const labels = d.spec.template.metadata.labels;
    const c = botContainer(all);
    expect(d.spec.replicas).toBe(2);
    expect(selects(d.spec.selector.matchLabels, labels)).toBe(true);
    expect(pod.topologySpreadConstraints?.map((t) => t.topologyKey)).toContain("kubernetes.io/hostname");
    for (const t of pod.topologySpreadConstraints ?? []) expect(selects(t.labelSelector?.matchLabels, labels)).toBe(true);

    expect(c.ports?.find((p) => p.name === "health")?.containerPort).toBe(8081);
    expect(envOf(c, "HEALTH_PORT")?.value).toBe("8081");
    expect(c.livenessProbe?.httpGet).toEqual({ path: "/healthz", port: "health" });
    expect(c.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "health" });

    const tmp = c.volumeMounts?.find((m) => m.mountPath === "/tmp");
    expect(pod.volumes?.find((v) => v.name === tmp?.name)?.emptyDir).toBeDefined();
    expect(of(all, "ServiceAccount").map((s) => s.metadata.name)).toContain(pod.serviceAccountName);

    const pdbs = of<KubeObject & { spec: { minAvailable?: number; selector: { matchLabels: Record<string, string> } } }>(all, "PodDisruptionBudget");
    expect(pdbs.filter((p) => selects(p.spec.selector.matchLabels, labels)).map((p) => p.spec.minAvailable)).toEqual([1]);
  });

  it("takes Slack and Redis credentials from the rollout-bot Secret by reference, with no Secret or value in the manifests", async () => {
    const all = await objects();
    expect(of(all, "Secret")).toEqual([]);
    const c = botContainer(all);
    for (const name of ["SLACK_SIGNING_SECRET", "SLACK_BOT_TOKEN", "REDIS_URL"]) {
      expect(envOf(c, name), name).toEqual({ name, valueFrom: { secretKeyRef: { name: "rollout-bot", key: name } } });
    }
    for (const e of c.env ?? []) if (/TOKEN|SECRET|PASSWORD/.test(e.name)) expect(e.value, e.name).toBeUndefined();
  });

  it("sets only variables the bot reads, each with a value it accepts", async () => {
    const known = EnvSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
    for (const e of botContainer(await objects()).env ?? []) {
      expect(Object.keys(known), e.name).toContain(e.name);
      if (e.value !== undefined) expect(known[e.name]!.safeParse(e.value).success, `${e.name}=${e.value}`).toBe(true);
    }
  });

  it("mounts a targets file the bot accepts", async () => {
    const all = await objects();
    const c = botContainer(all);
    const path = envOf(c, "ROLLOUT_TARGETS")?.value ?? "";
    const mount = c.volumeMounts?.find((m) => path.startsWith(`${m.mountPath}/`));
    const volume = bot(all).spec.template.spec.volumes?.find((v) => v.name === mount?.name);
    const map = of<KubeObject & { data: Record<string, string> }>(all, "ConfigMap").find((m) => m.metadata.name === volume?.configMap?.name);
    const file = map?.data[path.slice(mount!.mountPath.length + 1)];
    expect(file, "the targets file in the ConfigMap").toBeDefined();
    const parsed = parseTargetsFile(file!, "targets.yaml");
    expect(parsed.ok ? [] : parsed.error).toEqual([]);
  });

  it("has Services that reach named container ports of the pods they select, and a NetworkPolicy that admits them", async () => {
    const all = await objects();
    type Svc = KubeObject & { spec: { selector: Record<string, string>; ports: { name: string; targetPort: string }[] } };
    type NetPol = KubeObject & { spec: { podSelector: { matchLabels: Record<string, string> }; ingress?: { ports?: { port: string | number }[] }[] } };
    const workloads = [...of<Workload>(all, "Deployment"), ...of<Workload>(all, "StatefulSet")];
    for (const svc of of<Svc>(all, "Service")) {
      const pods = workloads.filter((w) => selects(svc.spec.selector, w.spec.template.metadata.labels));
      expect(pods.length, `pods behind Service ${svc.metadata.name}`).toBe(1);
      const labels = pods[0]!.spec.template.metadata.labels;
      const named = pods[0]!.spec.template.spec.containers.flatMap((c) => c.ports ?? []).map((p) => p.name);
      const admitted = of<NetPol>(all, "NetworkPolicy")
        .filter((n) => selects(n.spec.podSelector.matchLabels, labels))
        .flatMap((n) => n.spec.ingress ?? [])
        .flatMap((rule) => rule.ports ?? [])
        .map((p) => p.port);
      for (const port of svc.spec.ports) {
        expect(named, `Service ${svc.metadata.name} port ${port.name}`).toContain(port.targetPort);
        expect(admitted, `NetworkPolicy for Service ${svc.metadata.name} port ${port.targetPort}`).toContain(port.targetPort);
      }
    }
  });
});

describe("what each install promises", () => {
  it("overlays/http: an Ingress publishes only /slack/events, to the Bolt receiver's port", async () => {
    const all = await kustomizeBuild(deployDir("overlays/http"));
    type Ing = KubeObject & {
      spec: { rules: { http: { paths: { path: string; pathType: string; backend: { service: { name: string; port: { name: string } } } }[] } }[] };
    };
    const [ingress, ...more] = of<Ing>(all, "Ingress");
    expect(more).toEqual([]);
    const paths = ingress!.spec.rules.flatMap((r) => r.http.paths);
    expect(paths.map((p) => `${p.pathType} ${p.path}`)).toEqual(["Exact /slack/events"]);
    const backend = paths[0]!.backend.service;
    const svc = of<KubeObject & { spec: { ports: { name: string; targetPort: string }[] } }>(all, "Service").find((s) => s.metadata.name === backend.name)!;
    const target = svc.spec.ports.find((p) => p.name === backend.port.name)!.targetPort;
    const c = botContainer(all);
    expect(String(c.ports?.find((p) => p.name === target)?.containerPort)).toBe(envOf(c, "PORT")?.value);
    expect(envOf(c, "SLACK_APP_TOKEN")).toBeUndefined();
  });

  it("overlays/socket-mode: no Ingress and no Slack port; SLACK_APP_TOKEN from the Secret", async () => {
    const all = await kustomizeBuild(deployDir("overlays/socket-mode"));
    expect(of(all, "Ingress")).toEqual([]);
    const c = botContainer(all);
    expect(c.ports?.map((p) => p.name)).toEqual(["health"]);
    expect(envOf(c, "SLACK_APP_TOKEN")).toEqual({ name: "SLACK_APP_TOKEN", valueFrom: { secretKeyRef: { name: "rollout-bot", key: "SLACK_APP_TOKEN" } } });
  });

  it("components/redis: a StatefulSet with AOF on a volume claim, noeviction, reachable only from the bot", async () => {
    const all = await kustomizeBuild(deployDir("examples/http-in-cluster-redis"));
    const [redis] = of<Workload>(all, "StatefulSet");
    const c = redis!.spec.template.spec.containers[0]!;
    const args = (c.args ?? []).join(" ");
    expect(args).toMatch(/--appendonly yes/);
    expect(args).toMatch(/--maxmemory-policy noeviction/);
    const claim = redis!.spec.volumeClaimTemplates?.[0]?.metadata.name;
    expect(c.volumeMounts).toContainEqual({ name: claim, mountPath: "/data" });
    expect(args).toMatch(/--dir \/data/);
    type NetPol = KubeObject & {
      spec: { podSelector: { matchLabels: Record<string, string> }; ingress: { from?: { podSelector?: { matchLabels: Record<string, string> } }[] }[] };
    };
    const policy = of<NetPol>(all, "NetworkPolicy").find((n) => selects(n.spec.podSelector.matchLabels, redis!.spec.template.metadata.labels))!;
    const from = policy.spec.ingress.flatMap((r) => r.from ?? []);
    expect(from.length).toBeGreaterThan(0);
    for (const f of from) expect(selects(f.podSelector?.matchLabels, bot(all).spec.template.metadata.labels)).toBe(true);
    // The bot's own selector must not pick up the Redis pod (and the other way round).
    expect(selects(bot(all).spec.selector.matchLabels, redis!.spec.template.metadata.labels)).toBe(false);
  });

  it("components/servicemonitor: scrapes /metrics on the health port of the bot's health Service only", async () => {
    const all = await kustomizeBuild(deployDir("examples/http-in-cluster-redis"));
    type Sm = KubeObject & { spec: { selector: { matchLabels: Record<string, string> }; endpoints: { port: string; path: string }[] } };
    const [sm] = of<Sm>(all, "ServiceMonitor");
    const services = of<KubeObject & { metadata: { labels: Record<string, string> }; spec: { ports: { name: string }[] } }>(all, "Service").filter((s) =>
      selects(sm!.spec.selector.matchLabels, s.metadata.labels ?? {}),
    );
    expect(services.map((s) => s.metadata.name)).toEqual(["rollout-bot"]);
    expect(sm!.spec.endpoints).toEqual([{ port: "health", path: "/metrics", interval: "30s" }]);
    expect(services[0]!.spec.ports.map((p) => p.name)).toContain("health");
  });
});

describe("the checks themselves", () => {
  it("schema validation rejects a malformed object", () => {
    const broken = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "x" },
      spec: { selector: {}, template: { spec: { containers: [{ name: "c", ports: [{ containerPort: "eighty" }] }] } } },
    };
    expect(schemaErrors(broken)).toMatch(/containerPort must be integer/);
    expect(schemaErrors({ apiVersion: "example.com/v1", kind: "Nope", metadata: { name: "x" } })).toMatch(/no schema/);
    const misspelt = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "x" },
      spec: { containers: [{ name: "c", securityContext: { readOnlyRootFileSystem: true } }] },
    };
    expect(schemaErrors(misspelt)).toBe("unknown fields: spec.containers[0].securityContext.readOnlyRootFileSystem");
  });

  it("the renderer merges keyed lists as kustomize does and refuses what it does not implement", () => {
    const base = { containers: [{ name: "a", env: [{ name: "X", value: "1" }] }] };
    expect(
      strategicMerge(base, {
        containers: [
          {
            name: "a",
            env: [
              { name: "Y", value: "2" },
              { name: "X", value: "3" },
            ],
          },
        ],
      }),
    ).toEqual({
      containers: [
        {
          name: "a",
          env: [
            { name: "Y", value: "2" },
            { name: "X", value: "3" },
          ],
        },
      ],
    });
    expect(() => strategicMerge({ args: ["a"] }, { args: ["b"] })).toThrow(/merge key/);
    expect(() => strategicMerge({}, { $patch: "replace" })).toThrow(/not supported/);
  });
});
