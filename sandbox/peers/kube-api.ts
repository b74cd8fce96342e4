/**
 * A local Kubernetes API server for tests: plain HTTP on 127.0.0.1 that the real @kubernetes/client-node
 * talks to through a kubeconfig file. It serves discovery, namespaced CRUD with resourceVersion
 * concurrency, merge/JSON patch, the Deployment scale subresource and TrafficSplit in the versions one
 * mesh's CRD serves. Hooks let a test seed objects, edit them "by hand", count writes and inject faults.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import {
  defaultRegistry,
  httpRouteType,
  newGatewayController,
  type FieldCause,
  type GatewayController,
  type KubeObject,
  type ResourceType,
  type SmiFlavour,
} from "./kube-api-resources.ts";
import { discoveryDocument, notFoundPath } from "./kube-api-discovery.ts";
import { ApiStatusError, ObjectStore, apiVersionOf } from "./kube-api-store.ts";
import { readBody } from "./read-body.ts";
import { forbidden, requestAttributes, type RbacPolicy } from "./kube-api-authz.ts";
import { controlledDeployments, podType, startDeploymentController, type DeploymentControllerOptions } from "./kube-api-deployments.ts";

export type { FieldCause, GatewayController, KubeObject, ResourceType, SmiFlavour } from "./kube-api-resources.ts";

export type KubeApiPeerOptions = {
  smiFlavour: SmiFlavour;
  /**
   * This peer's cluster name (several peers stand for several clusters): every request record carries it,
   * and its kubeconfig names its cluster, user and context after it, so kubeconfigs of several peers merge.
   */
  cluster?: string;
  port?: number;
  /** Only these namespaces exist (writes elsewhere get 404). Default: any namespace exists. */
  namespaces?: string[];
  /** More resource types to serve, besides TrafficSplit, Deployment, HTTPRoute and Service. */
  resources?: ResourceType[];
  /** Answer 403, as the API server's RBAC authorizer would, to requests these rules do not allow. Default: allow all. */
  rbac?: RbacPolicy;
  /**
   * A cluster where every workload a test names exists: a read of a Service or Deployment that was never
   * created first creates a ready one (see `readyWorkload`). For tests about something else than preflight;
   * off by default, and objects a test seeds always win.
   */
  implicitWorkloads?: boolean;
  /** HTTPRoute versions served: both (Gateway API v1.x, the default) or only v1beta1 (older clusters). */
  gatewayVersions?: ("v1" | "v1beta1")[];
  /**
   * More checks on writes, by plural (e.g. a schema read from a CRD at test time): any cause makes the
   * write a 422 Invalid, as the API server's own validation would.
   */
  validators?: Record<string, (obj: KubeObject, version: string) => FieldCause[]>;
  /** Run a small Deployment controller (pods that become ready after a delay, or fail as named): kube-api-deployments.ts. */
  deploymentController?: DeploymentControllerOptions;
};

export type RequestRecord = {
  /** The peer's cluster name (KubeApiPeerOptions.cluster), when it has one. */
  cluster?: string;
  method: string;
  path: string;
  query: string;
  status: number;
  /** POST/PUT/PATCH/DELETE that is not a dry run. */
  mutating: boolean;
  dryRun: boolean;
  resource?: string;
  namespace?: string;
  name?: string;
  subresource?: string;
  /** When the request arrived (ms since the epoch). */
  at: number;
  /** The parsed JSON body of a mutating request (what the client asked to be written), when it had one. */
  body?: unknown;
  /** A fault held this request back this long before it was handled (see Fault.delayMs). */
  delayedMs?: number;
  /**
   * The client had closed the connection by the time the late request was handled (it timed out): the
   * request was still carried out, as a real API server would, but nobody read `status`.
   */
  clientGone?: boolean;
};

export type RequestMatch = { method?: string; pathIncludes?: string };

/**
 * Make the next matching request(s) misbehave. With `status` it answers that status (as a Status object);
 * with `reset` it drops the connection; with only `delayMs` it answers normally, late. A delayed request is
 * handled after the delay even when the client has given up meanwhile (a write still lands, late), and its
 * record says so (`delayedMs`, `clientGone`).
 */
export type Fault = RequestMatch & { times?: number; delayMs?: number; status?: number; reset?: boolean; message?: string };

export interface KubeApiPeer {
  readonly url: string;
  /** The cluster this peer stands for (KubeApiPeerOptions.cluster); its kubeconfig's context has this name. */
  readonly cluster: string | undefined;
  readonly kubeconfigPath: string;
  /** The bearer token the kubeconfig carries; requests without it get 401. */
  readonly token: string;
  /** "any", or the namespaces that exist; assign a Set to restrict. */
  namespaces: Set<string> | "any";
  /** RBAC enforced on every request (see KubeApiPeerOptions.rbac); undefined allows everything. */
  rbac: RbacPolicy | undefined;
  /** What the stand-in Gateway API controller reports in HTTPRoute status after writes; change it freely. */
  readonly gateway: GatewayController;
  readonly requests: RequestRecord[];
  /** TCP connections the server has accepted (a client that reuses its connections opens few). */
  readonly connections: number;
  /** Non-dry-run POST/PUT/PATCH/DELETE requests (any answer) addressed to this resource/object. */
  mutations(resource: string, namespace?: string, name?: string): RequestRecord[];
  get(resource: string, namespace: string, name: string): KubeObject | undefined;
  list(resource: string, namespace?: string): KubeObject[];
  seed(resource: string, namespace: string, object: KubeObject): KubeObject;
  /**
   * A person editing the object (kubectl edit, or `manager` such as a GitOps controller's Update): validated,
   * bumps resourceVersion when something changed, recorded in managedFields under `manager` ("kubectl-edit").
   */
  edit(resource: string, namespace: string, name: string, mutate: (obj: KubeObject) => KubeObject | void, opts?: { manager?: string }): KubeObject;
  /** A server-side apply by `manager` (a GitOps controller), as PATCH application/apply-patch+yaml would do it. */
  apply(resource: string, namespace: string, body: KubeObject, opts: { manager: string; force?: boolean }): KubeObject;
  remove(resource: string, namespace: string, name: string): void;
  /** A controller reporting `status` (e.g. a Deployment's pods becoming unavailable); spec is untouched. */
  setStatus(resource: string, namespace: string, name: string, status: Record<string, unknown>): KubeObject;
  /** Whether reads of missing Services/Deployments create ready ones (see KubeApiPeerOptions). */
  implicitWorkloads: boolean;
  /** Run the type's stand-in controller on the stored object now (e.g. after `gateway.mode` went back to "accept"). */
  settle(resource: string, namespace: string, name: string): KubeObject;
  failNext(fault: Fault): void;
  /** Run `action` just before the next matching request is handled (to stage a race deterministically). */
  onNext(match: RequestMatch, action: () => void | Promise<void>): void;
  /** Drop pending faults and hooks and forget the request log. */
  reset(): void;
  close(): Promise<void>;
}

const MUTATING = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const OPEN_PATHS = new Set(["/version", "/healthz", "/readyz", "/livez"]);
const REASONS: Record<number, string> = {
  400: "BadRequest",
  401: "Unauthorized",
  403: "Forbidden",
  404: "NotFound",
  405: "MethodNotAllowed",
  409: "Conflict",
  410: "Expired",
  422: "Invalid",
  429: "TooManyRequests",
  500: "InternalError",
  503: "ServiceUnavailable",
  504: "Timeout",
};

type Route = {
  group: string;
  version: string;
  namespace?: string;
  plural?: string;
  name?: string;
  subresource?: string;
};

type Reply = { status: number; body: unknown };

function statusBody(code: number, reason: string, message: string, details?: Record<string, unknown>) {
  return { kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, ...(details ? { details } : {}), code };
}

/** Split `/apis/<g>/<v>/namespaces/<ns>/<plural>/<name>/<sub>` (or `/api/v1/...`) into its parts. */
function parseRoute(pathname: string): Route | undefined {
  const segs = pathname.split("/").filter(Boolean).map(decodeURIComponent);
  let group: string;
  let rest: string[];
  if (segs[0] === "api" && segs.length >= 2) {
    group = "";
    rest = segs.slice(1);
  } else if (segs[0] === "apis" && segs.length >= 3) {
    group = segs[1]!;
    rest = segs.slice(2);
  } else return undefined;
  const version = rest[0]!;
  const r = rest.slice(1);
  if (r[0] === "namespaces" && r.length >= 3) {
    return { group, version, namespace: r[1], plural: r[2], name: r[3], subresource: r[4] };
  }
  return { group, version, plural: r[0], name: r[1], subresource: r[2] };
}

class Peer implements KubeApiPeer {
  url = "";
  cluster: string | undefined;
  kubeconfigPath = "";
  readonly token = "rollout-bot-test-token";
  readonly requests: RequestRecord[] = [];
  connections = 0;
  rbac: RbacPolicy | undefined;
  implicitWorkloads = false;
  private readonly store = new ObjectStore();
  private faults: (Fault & { left: number })[] = [];
  private hooks: { match: RequestMatch; action: () => void | Promise<void> }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private server: Server | undefined;
  private dir = "";

  constructor(
    private readonly registry: ResourceType[],
    readonly gateway: GatewayController,
  ) {}

  get namespaces(): Set<string> | "any" {
    return this.store.namespaces;
  }
  set namespaces(value: Set<string> | "any") {
    this.store.namespaces = value;
  }

  // ---------------------------------------------------------------------------------------------- hooks

  private typeOf(resource: string): ResourceType {
    const type = this.registry.find((t) => t.plural === resource || `${t.plural}.${t.group}` === resource);
    if (!type) throw new Error(`kube-api peer: no resource type "${resource}" is served`);
    return type;
  }

  mutations(resource: string, namespace?: string, name?: string): RequestRecord[] {
    const type = this.typeOf(resource);
    return this.requests.filter(
      (r) => r.mutating && r.resource === type.plural && (namespace === undefined || r.namespace === namespace) && (name === undefined || r.name === name),
    );
  }

  get(resource: string, namespace: string, name: string) {
    const type = this.typeOf(resource);
    return this.store.get(type, type.namespaced ? namespace : undefined, name);
  }

  list(resource: string, namespace?: string) {
    return this.store.list(this.typeOf(resource), namespace);
  }

  seed(resource: string, namespace: string, object: KubeObject) {
    const type = this.typeOf(resource);
    try {
      return this.store.seed(type, type.namespaced ? namespace : undefined, object);
    } catch (err) {
      if (err instanceof ApiStatusError) throw new Error(`kube-api peer: seed refused: ${err.message}`);
      throw err;
    }
  }

  edit(resource: string, namespace: string, name: string, mutate: (obj: KubeObject) => KubeObject | void, opts: { manager?: string } = {}) {
    const type = this.typeOf(resource);
    try {
      return this.store.edit(type, type.namespaced ? namespace : undefined, name, mutate, opts);
    } catch (err) {
      if (err instanceof ApiStatusError) throw new Error(`kube-api peer: edit refused: ${err.message}`);
      throw err;
    }
  }

  apply(resource: string, namespace: string, body: KubeObject, opts: { manager: string; force?: boolean }): KubeObject {
    const type = this.typeOf(resource);
    const version = typeof body.apiVersion === "string" ? body.apiVersion.split("/").pop()! : type.storageVersion;
    return this.store.apply(type, version, type.namespaced ? namespace : undefined, String(body.metadata?.name), body, opts);
  }

  remove(resource: string, namespace: string, name: string): void {
    const type = this.typeOf(resource);
    this.store.delete(type, type.namespaced ? namespace : undefined, name);
  }

  setStatus(resource: string, namespace: string, name: string, status: Record<string, unknown>): KubeObject {
    const type = this.typeOf(resource);
    return this.store.setStatus(type, type.namespaced ? namespace : undefined, name, status);
  }

  settle(resource: string, namespace: string, name: string): KubeObject {
    const type = this.typeOf(resource);
    return this.store.resettle(type, type.namespaced ? namespace : undefined, name);
  }

  failNext(fault: Fault): void {
    this.faults.push({ ...fault, left: fault.times ?? 1 });
  }

  onNext(match: RequestMatch, action: () => void | Promise<void>): void {
    this.hooks.push({ match, action });
  }

  reset(): void {
    this.faults = [];
    this.hooks = [];
    this.requests.length = 0;
  }

  // ---------------------------------------------------------------------------------------------- server

  async start(port: number): Promise<void> {
    const server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.send(res, { status: 500, body: statusBody(500, "InternalError", String(err)) });
      });
    });
    server.on("connection", () => this.connections++);
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => resolve());
    });
    const { port: bound } = server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${bound}`;
    this.dir = await mkdtemp(join(tmpdir(), "kube-api-peer-"));
    this.kubeconfigPath = join(this.dir, "kubeconfig.yaml");
    await writeFile(this.kubeconfigPath, this.kubeconfig());
  }

  /** client-node refuses a plain-HTTP server unless the cluster entry skips TLS verification. */
  private kubeconfig(): string {
    const name = this.cluster ?? "peer";
    return stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name, cluster: { server: this.url, "insecure-skip-tls-verify": true } }],
      users: [{ name: `${name}-user`, user: { token: this.token } }],
      contexts: [{ name, context: { cluster: name, user: `${name}-user`, namespace: "default" } }],
      "current-context": name,
    });
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const server = this.server;
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        resolve();
      }, ms);
      this.timers.add(t);
    });
  }

  private matches(m: RequestMatch, method: string, path: string): boolean {
    return (m.method === undefined || m.method.toUpperCase() === method) && (m.pathIncludes === undefined || path.includes(m.pathIncludes));
  }

  private send(res: ServerResponse, reply: Reply): void {
    const text = JSON.stringify(reply.body);
    res.writeHead(reply.status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
    res.end(text);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? "GET").toUpperCase();
    const url = new URL(req.url ?? "/", "http://peer");
    const full = url.pathname + url.search;
    const route = parseRoute(url.pathname);
    const dryRun = url.searchParams.get("dryRun") === "All";
    const record: RequestRecord = {
      ...(this.cluster !== undefined ? { cluster: this.cluster } : {}),
      method,
      path: url.pathname,
      query: url.search,
      status: 0,
      mutating: MUTATING.has(method) && !dryRun && route?.plural !== undefined,
      dryRun,
      resource: route?.plural,
      namespace: route?.namespace,
      name: route?.name,
      subresource: route?.subresource,
      at: Date.now(),
    };
    const body = await readJsonBody(req);
    if (record.mutating && body !== undefined && !(body instanceof SyntaxError)) record.body = body;
    if (method === "POST" && route?.name === undefined && isRecord(body) && isRecord(body.metadata)) {
      record.name = typeof body.metadata.name === "string" ? body.metadata.name : undefined;
    }
    this.requests.push(record);

    const hook = this.hooks.findIndex((h) => this.matches(h.match, method, full));
    if (hook >= 0) {
      const [taken] = this.hooks.splice(hook, 1);
      await taken?.action();
    }

    const fault = this.faults.find((f) => f.left > 0 && this.matches(f, method, full));
    if (fault) {
      fault.left -= 1;
      this.faults = this.faults.filter((f) => f.left > 0);
      if (fault.delayMs) {
        record.delayedMs = fault.delayMs;
        await this.sleep(fault.delayMs);
        await new Promise((r) => setImmediate(r)); // let a client that gave up be seen to have closed
        if (res.destroyed) record.clientGone = true;
      }
      if (fault.reset) {
        record.status = 0;
        req.socket.destroy();
        return;
      }
      if (fault.status !== undefined) {
        const reason = REASONS[fault.status] ?? "Unknown";
        record.status = fault.status;
        return this.send(res, { status: fault.status, body: statusBody(fault.status, reason, fault.message ?? `injected ${fault.status} ${reason}`) });
      }
    }

    let reply: Reply;
    const denied = this.rbac && !OPEN_PATHS.has(url.pathname) ? forbidden(this.rbac, requestAttributes(method, url.pathname, url.search)) : undefined;
    if (!OPEN_PATHS.has(url.pathname) && req.headers.authorization !== `Bearer ${this.token}`) {
      reply = { status: 401, body: statusBody(401, "Unauthorized", "Unauthorized") };
    } else if (denied) {
      reply = { status: 403, body: statusBody(403, "Forbidden", denied.message, denied.details) };
    } else if (body instanceof SyntaxError) {
      reply = { status: 400, body: statusBody(400, "BadRequest", `the request body is not JSON: ${body.message}`) };
    } else {
      reply = this.dispatch(method, url, route, body, req.headers["content-type"] ?? "", dryRun, req.headers["user-agent"]);
    }
    record.status = reply.status;
    this.send(res, reply);
  }

  private dispatch(method: string, url: URL, route: Route | undefined, body: unknown, contentType: string, dryRun: boolean, userAgent?: string): Reply {
    const ok = (b: unknown, status = 200): Reply => ({ status, body: b });
    try {
      const discovery = method === "GET" ? discoveryDocument(this.registry, url.pathname, new URL(this.url).host) : undefined;
      if (discovery) return ok(discovery);
      if (!route?.plural) throw notFoundPath();
      if (route.group === "" && route.version === "v1" && route.plural === "namespaces" && !route.namespace) {
        return ok(this.namespaceRequest(method, route.name));
      }
      const type = this.registry.find((t) => t.group === route.group && t.plural === route.plural && t.versions.includes(route.version));
      if (!type || (type.namespaced === false && route.namespace !== undefined)) throw notFoundPath();
      if (url.searchParams.get("watch") === "true" || url.searchParams.get("watch") === "1") {
        throw new ApiStatusError(400, "BadRequest", "the kube-api test peer does not implement watch");
      }
      const ns = type.namespaced ? route.namespace : undefined;
      // managedFields: the request's fieldManager, else its User-Agent up to the first "/" (as the API server records it).
      const manager = url.searchParams.get("fieldManager") ?? (userAgent ? userAgent.split("/")[0] : undefined);
      const opts = { dryRun, ...(manager ? { manager } : {}) };
      const { version, name, subresource } = route;
      const mediaType = contentType.split(";")[0]!.trim();
      const force = url.searchParams.get("force");
      if (force !== null && mediaType !== "application/apply-patch+yaml") {
        throw new ApiStatusError(422, "Invalid", `PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch`);
      }

      if (subresource === "status" && type.statusSubresource && name !== undefined && ns !== undefined) {
        const current = this.store.get(type, ns, name);
        if (method === "GET" && current) return ok(this.store.view(type, current, version));
        if (method === "PATCH") return ok(this.store.patchStatus(type, version, ns, name, mediaType, body, opts));
        if (method !== "GET") throw methodNotAllowed(method);
      }
      if (subresource !== undefined) {
        if (subresource !== "scale" || !type.scale || name === undefined || ns === undefined) throw notFoundPath();
        if (method === "GET") return ok(this.store.getScale(type, ns, name));
        if (method === "PUT") return ok(this.store.writeScale(type, ns, name, body, undefined, opts));
        if (method === "PATCH" && mediaType === "application/apply-patch+yaml") {
          const fieldManager = url.searchParams.get("fieldManager") ?? undefined;
          return ok(this.store.applyScale(type, ns, name, body, { dryRun, ...(fieldManager ? { manager: fieldManager } : {}), force: force === "true" }));
        }
        if (method === "PATCH") return ok(this.store.writeScale(type, ns, name, body, mediaType, opts));
        throw methodNotAllowed(method);
      }
      if (name === undefined) {
        if (method === "GET") {
          const items = this.store.list(type, ns, url.searchParams.get("labelSelector") ?? undefined).map((o) => this.store.view(type, o, version));
          return ok({ apiVersion: apiVersionOf(type, version), kind: `${type.kind}List`, metadata: { resourceVersion: this.store.resourceVersion }, items });
        }
        if (method === "POST") return ok(this.store.create(type, version, ns, body, opts), 201);
        throw methodNotAllowed(method);
      }
      if (method === "GET") {
        if (this.implicitWorkloads && ns !== undefined && !this.store.get(type, ns, name) && this.store.hasNamespace(ns)) {
          const made = readyWorkload(type.plural, name);
          if (made) this.seed(type.plural, ns, made);
        }
        const obj = this.store.get(type, ns, name);
        if (!obj)
          throw new ApiStatusError(404, "NotFound", `${type.group ? `${type.plural}.${type.group}` : type.plural} "${name}" not found`, {
            name,
            group: type.group,
            kind: type.plural,
          });
        return ok(this.store.view(type, obj, version));
      }
      if (method === "PUT") return ok(this.store.replace(type, version, ns, name, body, opts));
      if (method === "PATCH" && mediaType === "application/apply-patch+yaml") {
        const fieldManager = url.searchParams.get("fieldManager") ?? undefined;
        // 201 when the apply created the object, as the API server answers.
        const existed = this.store.get(type, ns, name) !== undefined;
        return ok(
          this.store.apply(type, version, ns, name, body, { dryRun, ...(fieldManager ? { manager: fieldManager } : {}), force: force === "true" }),
          existed ? 200 : 201,
        );
      }
      if (method === "PATCH") return ok(this.store.patch(type, version, ns, name, mediaType, body, opts));
      if (method === "DELETE") {
        this.store.delete(type, ns, name, opts);
        return ok({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Success", details: { name, group: type.group, kind: type.plural } });
      }
      throw methodNotAllowed(method);
    } catch (err) {
      if (err instanceof ApiStatusError) return { status: err.code, body: statusBody(err.code, err.reason, err.message, err.details) };
      throw err;
    }
  }

  private namespaceRequest(method: string, name: string | undefined): unknown {
    const nsObject = (n: string) => ({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: n },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    });
    if (method !== "GET") throw methodNotAllowed(method);
    if (name === undefined)
      return {
        apiVersion: "v1",
        kind: "NamespaceList",
        metadata: { resourceVersion: this.store.resourceVersion },
        items: this.store.knownNamespaces().map(nsObject),
      };
    if (!this.store.hasNamespace(name)) throw new ApiStatusError(404, "NotFound", `namespaces "${name}" not found`, { name, kind: "namespaces" });
    return nsObject(name);
  }
}

/**
 * A ready workload named `name`, as `implicitWorkloads` creates it: a Service selecting `app: <name>`, or a
 * Deployment of one available replica whose pods carry that label. Undefined for other resources.
 */
export function readyWorkload(plural: string, name: string, replicas = 1): KubeObject | undefined {
  const labels = { app: name };
  if (plural === "services") {
    return { apiVersion: "v1", kind: "Service", metadata: { name, labels }, spec: { selector: labels, ports: [{ port: 80, targetPort: 8080 }] } };
  }
  if (plural === "deployments") {
    return {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name, labels },
      spec: {
        replicas,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: "app", image: `${name}:latest` }] } },
      },
    };
  }
  return undefined;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function methodNotAllowed(method: string): ApiStatusError {
  return new ApiStatusError(405, "MethodNotAllowed", `the server does not allow this method on the requested resource (${method})`);
}

/** The parsed JSON body, undefined when empty, or the SyntaxError when it is not JSON. */
async function readJsonBody(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  if (!text.trim()) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    return err;
  }
}

function withValidator(type: ResourceType, extra: ((obj: KubeObject, version: string) => FieldCause[]) | undefined): ResourceType {
  if (!extra) return type;
  return { ...type, validate: (obj, version) => [...(type.validate?.(obj, version) ?? []), ...extra(obj, version)] };
}

/** Start a peer on 127.0.0.1 (port 0 = any free port) and write its kubeconfig to a temp dir. */
export async function startKubeApiPeer(opts: KubeApiPeerOptions): Promise<KubeApiPeer> {
  const gateway = newGatewayController();
  const served = [...defaultRegistry(opts.smiFlavour, httpRouteType({ versions: opts.gatewayVersions, controller: gateway })), ...(opts.resources ?? [])];
  const registry = opts.deploymentController
    ? [...controlledDeployments(served, opts.deploymentController.only), ...(served.some((t) => t.plural === "pods") ? [] : [podType])]
    : served;
  const peer = new Peer(
    registry.map((t) => withValidator(t, opts.validators?.[t.plural])),
    gateway,
  );
  if (opts.namespaces) peer.namespaces = new Set(opts.namespaces);
  peer.cluster = opts.cluster;
  peer.rbac = opts.rbac;
  peer.implicitWorkloads = opts.implicitWorkloads ?? false;
  await peer.start(opts.port ?? 0);
  if (opts.deploymentController) {
    const controller = startDeploymentController(peer, opts.deploymentController);
    const close = peer.close.bind(peer);
    peer.close = async () => {
      controller.stop();
      await close();
    };
  }
  return peer;
}
