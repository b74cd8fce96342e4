import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { freePort } from "../../sandbox/peers/net.ts";
import { waitFor } from "./wait.ts";

/**
 * A Redis Cluster owned by one test: `masters` redis-servers with cluster mode on (no replicas, no
 * persistence), each on its own client port and bus port, joined by `redis-cli --cluster create`, every
 * node requiring `password`. With `tls`, nodes speak only TLS (clients and bus), with a certificate from a
 * CA of the cluster's own (`caFile`) that names `localhost` only, and announce themselves as `localhost`.
 * `close()` kills them all and deletes their directory.
 */
export class LocalRedisCluster {
  private ca: Buffer | undefined;

  private constructor(
    readonly nodes: { port: number; child: ChildProcess }[],
    readonly dir: string,
    readonly password: string,
    readonly tls: boolean,
  ) {}

  static async start(opts: { masters?: number; password: string; tls?: boolean }): Promise<LocalRedisCluster> {
    const masters = opts.masters ?? 3;
    const dir = await mkdtemp(join(tmpdir(), "rollout-redis-cluster-"));
    // Client and bus ports both free (the default bus port, port + 10000, may not exist above 55535).
    const ports = new Set<number>();
    while (ports.size < masters * 2) ports.add(await freePort());
    const [clientPorts, busPorts] = [[...ports].slice(0, masters), [...ports].slice(masters)];
    const cluster = new LocalRedisCluster([], dir, opts.password, opts.tls === true);
    try {
      if (cluster.tls) cluster.ca = await makeCertificates(dir);
      for (const [i, port] of clientPorts.entries()) cluster.nodes.push({ port, child: spawnNode(port, busPorts[i]!, dir, opts.password, cluster.tls) });
      for (const n of cluster.nodes) await cluster.waitAnswers(n);
      await promisify(execFile)(
        "redis-cli",
        [
          ...(cluster.tls ? ["--tls", "--cacert", cluster.caFile] : []),
          "-a",
          opts.password,
          "--no-auth-warning",
          "--cluster",
          "create",
          ...clientPorts.map((p) => `127.0.0.1:${p}`),
          "--cluster-replicas",
          "0",
          "--cluster-yes",
        ],
        { timeout: 20_000 },
      );
      for (const n of cluster.nodes) {
        const c = cluster.client(n.port);
        try {
          await waitFor(async () => (await c.cluster("INFO")).includes("cluster_state:ok"), { timeoutMs: 15_000, what: `cluster_state:ok on ${n.port}` });
        } finally {
          c.disconnect();
        }
      }
      return cluster;
    } catch (e) {
      await cluster.close();
      throw e;
    }
  }

  /** The bot's REDIS_URL: two of the nodes as seeds (it finds the third from them), with the password. */
  get url(): string {
    const host = this.tls ? "localhost" : "127.0.0.1";
    return `${this.tls ? "rediss" : "redis"}+cluster://:${encodeURIComponent(this.password)}@${this.nodes
      .slice(0, 2)
      .map((n) => `${host}:${n.port}`)
      .join(",")}`;
  }

  /** The CA that signed the nodes' certificate (with `tls`): NODE_EXTRA_CA_CERTS for a bot process. */
  get caFile(): string {
    return join(this.dir, "ca.crt");
  }

  /** A plain (non-cluster) connection to one node: it sees only the keys that node holds. */
  client(port: number, opts: { lazyConnect?: boolean; maxRetriesPerRequest?: number; retryStrategy?: () => null } = {}): Redis {
    return new Redis({
      host: "127.0.0.1",
      port,
      password: this.password,
      maxRetriesPerRequest: 1,
      ...(this.ca ? { tls: { ca: this.ca, servername: "localhost" } } : {}),
      ...opts,
    });
  }

  /** The client port of the master serving `key`'s hash slot. */
  async ownerOf(key: string): Promise<number> {
    const c = this.client(this.nodes[0]!.port);
    try {
      const slot = await c.cluster("KEYSLOT", key);
      const ranges = await c.cluster("SLOTS");
      const range = ranges.find(([from, to]) => slot >= from && slot <= to);
      if (!range) throw new Error(`no node serves slot ${slot}`);
      const [, , master] = range; // [from, to, master, ...replicas]
      if (!master) throw new Error(`no master for slot ${slot}`);
      return master[1];
    } finally {
      c.disconnect();
    }
  }

  /** Every key under `pattern`, by the node holding it. */
  async keysByNode(pattern: string): Promise<Map<number, string[]>> {
    const out = new Map<number, string[]>();
    for (const n of this.nodes) {
      const c = this.client(n.port);
      try {
        const keys: string[] = [];
        let cursor = "0";
        do {
          const [next, batch] = await c.scan(cursor, "MATCH", pattern, "COUNT", 500);
          cursor = next;
          keys.push(...batch);
        } while (cursor !== "0");
        out.set(n.port, keys.sort());
      } finally {
        c.disconnect();
      }
    }
    return out;
  }

  /** Kill one node (SIGKILL), as a crashed master. */
  async kill(port: number): Promise<void> {
    const n = this.nodes.find((x) => x.port === port);
    if (n) await killed(n.child);
  }

  /** Kill every node and delete the cluster's directory (node configs and logs). */
  async close(): Promise<void> {
    await Promise.all(this.nodes.map((n) => killed(n.child)));
    await rm(this.dir, { recursive: true, force: true });
  }

  private async waitAnswers(n: { port: number; child: ChildProcess }): Promise<void> {
    const probe = this.client(n.port, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on("error", () => undefined); // refused until the server listens: expected here
    try {
      await waitFor(
        async () => {
          if (n.child.exitCode !== null || n.child.signalCode !== null) throw new Error(`redis-server on ${n.port} exited`);
          if (probe.status !== "ready") await probe.connect().catch(() => undefined);
          return (await probe.ping().catch(() => "")) === "PONG";
        },
        { timeoutMs: 10_000, intervalMs: 20, what: `redis-server on port ${n.port}` },
      );
    } finally {
      probe.disconnect();
    }
  }
}

function spawnNode(port: number, busPort: number, dir: string, password: string, tls: boolean): ChildProcess {
  const crt = (name: string) => join(dir, name);
  const child = spawn(
    "redis-server",
    [
      ...(tls ? ["--port", "0", "--tls-port", String(port)] : ["--port", String(port)]),
      // `localhost` may resolve to ::1 first; "-" skips it where there is no IPv6.
      ...["--cluster-port", String(busPort), "--bind", tls ? "127.0.0.1 -::1" : "127.0.0.1", "--daemonize", "no"],
      ...["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--cluster-node-timeout", "3000"],
      ...["--save", "", "--appendonly", "no", "--dir", dir, "--logfile", join(dir, `redis-${port}.log`)],
      ...["--requirepass", password, "--masterauth", password],
      ...(tls
        ? [
            ...["--tls-cert-file", crt("node.crt"), "--tls-key-file", crt("node.key"), "--tls-ca-cert-file", crt("ca.crt")],
            ...["--tls-auth-clients", "no", "--tls-cluster", "yes", "--tls-replication", "yes"],
            ...["--cluster-announce-hostname", "localhost", "--cluster-preferred-endpoint-type", "hostname"],
          ]
        : []),
    ],
    { stdio: "ignore" },
  );
  // A test process that dies (a timeout, a crash) must not leave its redis-servers behind.
  const orphanGuard = () => child.kill("SIGKILL");
  process.once("exit", orphanGuard);
  child.once("exit", () => process.removeListener("exit", orphanGuard));
  return child;
}

/** A CA and a node certificate it signed for `localhost` only (no IP): returns the CA certificate. */
async function makeCertificates(dir: string): Promise<Buffer> {
  const openssl = (...args: string[]) => promisify(execFile)("openssl", args, { cwd: dir, timeout: 20_000 });
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl("req", "-x509", ...ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=rollout-bot test CA");
  await openssl("req", ...ec, "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=localhost");
  await writeFile(join(dir, "san.ext"), "subjectAltName=DNS:localhost\n");
  await openssl(
    "x509",
    "-req",
    "-in",
    "node.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "node.crt",
    "-days",
    "2",
    "-extfile",
    "san.ext",
  );
  return readFile(join(dir, "ca.crt"));
}

async function killed(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill("SIGKILL");
  await exited;
}
