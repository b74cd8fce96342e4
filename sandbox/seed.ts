import { targetKey } from "../src/engine/target.ts";
import type { KubeObject } from "./peers/kube-api.ts";
import { argoApplication, fluxKustomization } from "./peers/kube-api-gitops.ts";

/**
 * What the sandbox starts with: people, a channel, its clusters, the targets file and the objects in the
 * mesh. Pure data, so a reset puts back exactly this. The targets tell the seeds' stories: an NGINX Service
 * Mesh style TrafficSplit (backend-svc), a Linkerd 1 dtab in namerd (world), a Gateway API HTTPRoute as
 * Linkerd 2 writes a mesh route (web), and the same backend-svc in a second cluster (backend-svc@prod-eu).
 */

export const SANDBOX_CHANNEL = { id: "C0DEPLOYS", name: "deploys" };

export type SandboxUser = { id: string; name: string; real_name: string; note: string };

export const SANDBOX_USERS: readonly SandboxUser[] = [
  { id: "U0ALICE01", name: "alice", real_name: "Alice (deployer)", note: "in @deployers: may start and advance" },
  { id: "U0BOB0001", name: "bob", real_name: "Bob (deployer)", note: "in @deployers: may start, advance, and be the second approver" },
  { id: "U0CAROL01", name: "carol", real_name: "Carol (intern)", note: "not in @deployers: her starts are refused" },
];

export const DEPLOYERS = { id: "S0DEPLOY1", handle: "deployers", name: "Deployers", users: ["U0ALICE01", "U0BOB0001"] };

/**
 * The clusters besides the bot's own (issue 24): each is a Kubernetes API peer of its own, declared under
 * `clusters:` and reached through the kubeconfig file its peer writes, with its own mesh metrics (and its
 * own Prometheus when the sandbox runs one), as a remote cluster is.
 */
export const OTHER_CLUSTERS = ["prod-eu"] as const;

/**
 * Every cluster of the sandbox, the bot's own (undefined) first: what a story across clusters walks.
 */
export function sandboxClusters(): readonly (string | undefined)[] {
  return [undefined, ...OTHER_CLUSTERS];
}

/**
 * The wave story (issue 24): `payments` rolls through the bot's own cluster, then prod-eu. A wave names only
 * declared clusters, so the bot's own is declared a second time, as `staging`, through the kubeconfig file
 * its peer writes (the way a remote cluster is reached). The target has a name and objects (its own
 * TrafficSplit, Deployments and Services, in `pay`) that no single-cluster target uses: a wave's claims go by
 * (target name, cluster), so a wave of `backend-svc` through `staging` would not see a rollout of the own
 * cluster's `backend-svc` driving the very same TrafficSplit.
 */
export const WAVE_STORY = { name: "payments", namespace: "pay", ownAlias: "staging", clusters: ["staging", "prod-eu"] } as const;

/** One simulated target: where its versions live and which one the canary controls act on. */
export type SeedTarget = {
  name: string;
  /** The cluster it lives in (one of OTHER_CLUSTERS); absent: the bot's own. */
  cluster?: (typeof OTHER_CLUSTERS)[number];
  namespace: string;
  router: "smi" | "namerd" | "gateway";
  stable: string;
  canary: string;
  /** Requests per second across both versions when the sandbox starts. */
  rps: number;
  /** The wave target it is one cluster of (WAVE_STORY): no single-cluster target of this name is declared. */
  wave?: string;
};

export const SEED_TARGETS: readonly SeedTarget[] = [
  { name: "backend-svc", namespace: "default", router: "smi", stable: "backend-v1", canary: "backend-v2", rps: 200 },
  { name: "world", namespace: "web", router: "namerd", stable: "world-v1", canary: "world-v2", rps: 100 },
  { name: "web", namespace: "shop", router: "gateway", stable: "web-v1", canary: "web-v2", rps: 150 },
  // The same service in prod-eu, with traffic of its own: `/rollout start backend-svc@prod-eu ...`.
  { name: "backend-svc", cluster: "prod-eu", namespace: "default", router: "smi", stable: "backend-v1", canary: "backend-v2", rps: 120 },
  // The wave's service in each of its clusters (WAVE_STORY): the bot's own, declared as `staging`, then prod-eu.
  { name: "payments", wave: "payments", namespace: "pay", router: "smi", stable: "payments-v1", canary: "payments-v2", rps: 150 },
  { name: "payments", wave: "payments", cluster: "prod-eu", namespace: "pay", router: "smi", stable: "payments-v1", canary: "payments-v2", rps: 90 },
];

/** How commands, the page and the traffic simulator name a seed target: `backend-svc`, `backend-svc@prod-eu`. */
export const seedKey = (t: SeedTarget): string => targetKey(t);

/**
 * The Argo Rollouts story: a canary Rollout `orders` in `orders` whose simulated controller walks its steps
 * (a manual pause, an analysis the page can make fail, a timed pause). The page deploys a new image, and
 * people promote, abort and retry from the channel message.
 */
export const ORDERS_ROLLOUT = { namespace: "orders", name: "orders" };
export const ORDERS_STEPS = [
  { setWeight: 20 },
  { pause: {} },
  { setWeight: 50 },
  { analysis: { templates: [{ templateName: "success-rate" }] } },
  { pause: { duration: "30s" } },
];

/**
 * The Flagger story: a Canary `checkout` in `store` whose simulated Flagger calls the bot's gates each
 * second. The page deploys a new revision (or makes its checks fail); people approve, halt and roll back
 * from the channel message.
 */
export const CHECKOUT_CANARY = { namespace: "store", name: "checkout" };

/** The Gateway API story: the rule of HTTPRoute `web` the bot shifts, beside one it must leave alone. */
export const WEB_SPLIT_RULE = "api";
export const WEB_TEST_URL = "http://web.shop.svc.cluster.local/api";

export const WORLD_DTAB_NAMESPACE = "internal";
export const WORLD_PREFIX = "/host/world";
/** The seed dtab of the Linkerd 1 story: every host resolves through Kubernetes; world goes to v1. */
export const WORLD_SEED_DTAB = "/srv => /#/io.l5d.k8s/web/http ; /host => /srv ; /svc => /host ; /host/world => /srv/world-v1 ;";
/** Where a person would send the l5d-dtab test request (shown by the bot in the rollout message). */
export const WORLD_INGRESS_URL = "http://linkerd.sandbox.local:4140/";
/** The Linkerd 1 router label whose clients carry the traffic, as metrics.json keys name it. */
export const LINKERD1_ROUTER = "http";
/** A version's bound client id in metrics.json (the default `linkerd1ClientId` template, filled in). */
export const linkerd1ClientId = (namespace: string, version: string) => `#/io.l5d.k8s/${namespace}/http/${version}`;

export type MetricsChoice = { kind: "prometheus"; url: string } | { kind: "linkerd1"; adminUrl: string };

/** A cluster besides the bot's own as the targets file declares it: its kubeconfig file and where its metrics are. */
export type DeclaredCluster = { name: (typeof OTHER_CLUSTERS)[number]; kubeconfig: string; metrics: MetricsChoice };

export type TimingSettings = { windowSeconds: number; refreshSeconds: number; autoNotice: string };

/**
 * The targets file the bot is started with. Quoted values are JSON strings, which are valid YAML.
 * Rollouts are automatic by default (a step every 2 minutes while healthy), so breaking a canary shows the
 * bot abort by itself; `/rollout manual <target>` hands the steps back to people.
 */
export function targetsYaml(p: {
  namerdUrl: string;
  linkerd1AdminUrl: string;
  backendMetrics: MetricsChoice;
  timing: TimingSettings;
  /** The other clusters (absent: the bot's own only). */
  clusters?: readonly DeclaredCluster[];
  /** The bot's own cluster declared again for the wave story (WAVE_STORY.ownAlias): its kubeconfig file and metrics. */
  own?: { kubeconfig: string; metrics: MetricsChoice };
}): string {
  const t = p.timing;
  // An error-free demo canary establishes "at most 1 point worse than stable" in about a minute; the default
  // 0.2 points would take several (issue 16's verdict waits for evidence of health).
  const common = `windowSeconds: ${t.windowSeconds}, refreshSeconds: ${t.refreshSeconds}, minRequests: 50, confidence: 0.99, maxErrorIncrease: 0.01`;
  const linkerd1 = `source: linkerd1, linkerd1AdminUrl: ${JSON.stringify(p.linkerd1AdminUrl)}, linkerd1Router: ${LINKERD1_ROUTER}`;
  // The sandbox's Prometheus scrapes every second.
  const prometheus = (preset: string) =>
    p.backendMetrics.kind === "prometheus"
      ? `source: prometheus, prometheusUrl: ${JSON.stringify(p.backendMetrics.url)}, preset: ${preset}, scrapeIntervalSeconds: 1`
      : linkerd1;
  const backend = prometheus("nginx");
  // Linkerd 2 proxies report what an HTTPRoute's backends answer.
  const web = prometheus("linkerd2");
  // backend-svc is declared the same way in every cluster, so a wave of it needs only the wave's own keys.
  const backendSvc = (cluster: string | undefined, metrics: string) => `
  - name: backend-svc${cluster ? `\n    cluster: ${cluster}` : ""}
    namespace: default
    router: smi
    stable: backend-v1
    steps: [10, 80, 100]
    smi: { trafficSplit: backend-svc, apexService: backend-svc }
    policy: { requireSecondApprover: true }
    auto: { enabled: true, interval: 2m, notice: ${t.autoNotice} }
    metrics: { ${metrics}, ${common} }`;
  // Another cluster's metrics: its own Prometheus (the URL comes from its `clusters:` entry), or its own Linkerd 1.
  const clusterMetrics = (c: DeclaredCluster) =>
    c.metrics.kind === "prometheus"
      ? "source: prometheus, preset: nginx, scrapeIntervalSeconds: 1"
      : `source: linkerd1, linkerd1AdminUrl: ${JSON.stringify(c.metrics.adminUrl)}, linkerd1Router: ${LINKERD1_ROUTER}`;
  const clusters = p.clusters ?? [];
  const entry = (name: string, c: { kubeconfig: string; metrics: MetricsChoice }) => `
  - name: ${name}
    kubeconfig: ${JSON.stringify(c.kubeconfig)}${c.metrics.kind === "prometheus" ? `\n    prometheusUrl: ${JSON.stringify(c.metrics.url)}` : ""}`;
  // The wave story needs the bot's own cluster declared (as `staging`) and prod-eu.
  const wave = p.own && clusters.some((c) => c.name === "prod-eu");
  const entries = [...(wave ? [entry(WAVE_STORY.ownAlias, p.own!)] : []), ...clusters.map((c) => entry(c.name, c))];
  const declared = entries.length ? `clusters:${entries.join("")}\n` : "";
  // Each cluster's Prometheus (its `prometheusUrl`) gives that cluster's verdict; a Linkerd 1 admin endpoint is
  // one per target, not per cluster, so without Prometheus the wave has no metrics and people decide.
  const waveMetrics =
    p.backendMetrics.kind === "prometheus" && clusters.every((c) => c.metrics.kind === "prometheus")
      ? `source: prometheus, preset: nginx, scrapeIntervalSeconds: 1, ${common}`
      : "source: none";
  const waveTarget = wave
    ? `
  - name: ${WAVE_STORY.name}
    clusters: [${WAVE_STORY.clusters.join(", ")}]
    wave: { gate: manual }
    namespace: ${WAVE_STORY.namespace}
    router: smi
    stable: payments-v1
    steps: [10, 50, 100]
    smi: { trafficSplit: ${WAVE_STORY.name}, apexService: ${WAVE_STORY.name} }
    metrics: { ${waveMetrics} }`
    : "";
  return `adhoc: false
policy:
  start: ["@deployers"]
${declared}targets:${backendSvc(undefined, backend)}${clusters.map((c) => backendSvc(c.name, clusterMetrics(c))).join("")}${waveTarget}
  - name: world
    namespace: web
    router: namerd
    stable: world-v1
    steps: [10, 50, 100]
    deploy: true
    namerd:
      url: ${JSON.stringify(p.namerdUrl)}
      dtabNamespace: ${WORLD_DTAB_NAMESPACE}
      prefix: ${WORLD_PREFIX}
      dst: /srv/{version}
      ingressUrl: ${JSON.stringify(WORLD_INGRESS_URL)}
    auto: { enabled: true, interval: 2m, notice: ${t.autoNotice} }
    metrics: { ${linkerd1}, ${common} }
  - name: web
    namespace: shop
    router: gateway
    stable: web-v1
    steps: [10, 50, 100]
    gateway: { httpRoute: web, rule: ${WEB_SPLIT_RULE}, testUrl: ${JSON.stringify(WEB_TEST_URL)} }
    auto: { enabled: true, interval: 2m, notice: ${t.autoNotice} }
    metrics: { ${web}, ${common} }
  - name: shop
    namespace: store
    router: gateway
    stable: shop-v1
    steps: [10, 50, 100]
    gateway: { httpRoute: shop }
  - name: cart
    namespace: store
    router: gateway
    stable: cart-v1
    steps: [10, 50, 100]
    gitops: pause
    gateway: { httpRoute: cart }
  - name: ${ORDERS_ROLLOUT.name}
    namespace: ${ORDERS_ROLLOUT.namespace}
    router: argo-rollouts
    argoRollouts: { rollout: ${ORDERS_ROLLOUT.name}, channel: ${SANDBOX_CHANNEL.id}, pollInterval: 1s }
    policy: { requireSecondApprover: true }
  - name: ${CHECKOUT_CANARY.name}
    namespace: ${CHECKOUT_CANARY.namespace}
    router: flagger
    flagger: { channel: ${SANDBOX_CHANNEL.id}, tokenEnv: SANDBOX_FLAGGER_TOKEN, pollInterval: 1s }
`;
}

/**
 * The GitOps story (issue 21): route `shop` belongs to Argo CD Application `shop`, which self-heals it (the
 * sandbox's Argo CD peer puts git back every second), so a start is refused with the snippet until the panel
 * applies it to the Application; route `cart` belongs to Flux Kustomization `apps`, and its target says
 * `gitops: pause`.
 */
export const GITOPS_STORY = { namespace: "store", argoApp: "shop", argoRoute: "shop", fluxRoute: "cart", kustomization: "apps" } as const;

/** Route `shop` as git holds it (the Argo CD peer applies it, with the tracking annotation). */
export function shopRouteInGit(): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: GITOPS_STORY.argoRoute, namespace: "store" },
    spec: { parentRefs: [{ group: "core", kind: "Service", name: "shop", port: 80 }], rules: [{ backendRefs: [{ name: "shop-v1", port: 80, weight: 100 }] }] },
  };
}

function gitopsObjects(): ReturnType<typeof seedObjects> {
  const out: ReturnType<typeof seedObjects> = [];
  for (const app of ["shop", "cart"]) {
    for (const v of [`${app}-v1`, `${app}-v2`]) {
      out.push({ resource: "deployments", namespace: "store", object: deployment("store", v) });
      out.push({ resource: "services", namespace: "store", object: service("store", v, v) });
    }
    out.push({ resource: "services", namespace: "store", object: service("store", app, `${app}-v1`) });
  }
  out.push({
    resource: "applications",
    namespace: "argocd",
    object: argoApplication(GITOPS_STORY.argoApp, {
      destination: { server: "https://kubernetes.default.svc", namespace: GITOPS_STORY.namespace },
      syncPolicy: { automated: { selfHeal: true, prune: true } },
    }),
  });
  out.push({ resource: "kustomizations", namespace: "flux-system", object: fluxKustomization(GITOPS_STORY.kustomization) });
  out.push({
    resource: "httproutes",
    namespace: "store",
    object: {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: {
        name: GITOPS_STORY.fluxRoute,
        namespace: "store",
        labels: { "kustomize.toolkit.fluxcd.io/name": GITOPS_STORY.kustomization, "kustomize.toolkit.fluxcd.io/namespace": "flux-system" },
      },
      spec: {
        parentRefs: [{ group: "core", kind: "Service", name: "cart", port: 80 }],
        rules: [{ backendRefs: [{ name: "cart-v1", port: 80, weight: 100 }] }],
      },
    },
  });
  return out;
}

function deployment(namespace: string, name: string): KubeObject {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: name } },
      template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: "app", image: `example/${name}:latest` }] } },
    },
  };
}

function service(namespace: string, name: string, app: string): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace },
    spec: { selector: { app }, ports: [{ name: "http", port: 80, targetPort: 8080 }] },
  };
}

/** An SMI TrafficSplit named after the target, all traffic on stable. */
function trafficSplit(t: SeedTarget): KubeObject {
  return {
    apiVersion: "split.smi-spec.io/v1alpha3",
    kind: "TrafficSplit",
    metadata: { name: t.name, namespace: t.namespace },
    spec: {
      service: t.name,
      backends: [
        { service: t.stable, weight: 100 },
        { service: t.canary, weight: 0 },
      ],
    },
  };
}

/**
 * A mesh (GAMMA) route as Linkerd writes it: its parent is the Service `web` (group "core"). Rule `static`
 * sends /static to a file server and must stay exactly so; rule `api` carries the rollout.
 */
export function webRoute(): KubeObject {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "web", namespace: "shop" },
    spec: {
      parentRefs: [{ group: "core", kind: "Service", name: "web", port: 80 }],
      rules: [
        { name: "static", matches: [{ path: { type: "PathPrefix", value: "/static" } }], backendRefs: [{ name: "static-files", port: 80, weight: 1 }] },
        { name: WEB_SPLIT_RULE, matches: [{ path: { type: "PathPrefix", value: "/api" } }], backendRefs: [{ name: "web-v1", port: 80, weight: 100 }] },
      ],
    },
  };
}

/**
 * Kubernetes objects of one cluster (undefined: the bot's own) by resource plural: ready Deployments and
 * Services for every version of its targets, their TrafficSplits, and in the bot's own the route and the
 * GitOps story's objects.
 */
export function seedObjects(cluster?: (typeof OTHER_CLUSTERS)[number]): {
  resource: "deployments" | "services" | "trafficsplits" | "httproutes" | "applications" | "kustomizations";
  namespace: string;
  object: KubeObject;
}[] {
  const out: ReturnType<typeof seedObjects> = [];
  for (const t of SEED_TARGETS.filter((x) => x.cluster === cluster)) {
    for (const v of [t.stable, t.canary]) {
      out.push({ resource: "deployments", namespace: t.namespace, object: deployment(t.namespace, v) });
      out.push({ resource: "services", namespace: t.namespace, object: service(t.namespace, v, v) });
    }
    out.push({ resource: "services", namespace: t.namespace, object: service(t.namespace, t.name, t.stable) });
    if (t.router === "smi") out.push({ resource: "trafficsplits", namespace: t.namespace, object: trafficSplit(t) });
  }
  if (cluster !== undefined) return out;
  out.push({ resource: "services", namespace: "shop", object: service("shop", "static-files", "static-files") });
  out.push({ resource: "httproutes", namespace: "shop", object: webRoute() });
  out.push(...gitopsObjects());
  return out;
}
