import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { sleep } from "../support/wait.ts";

/** Rollouts are spread over 25 channels (the Slack peer looks messages up per channel, linearly). */
export const BENCH_CHANNELS = Array.from({ length: 25 }, (_, i) => `C0BENCH${String(i).padStart(2, "0")}`);

/** The Slack peer running in its own process (slack-peer-process.ts): its Web API URL, its control URL, and the instant Prometheus's. */
export type SlackProcess = { child: ChildProcess; apiUrl: string; controlUrl: string; prometheusUrl: string; close(): Promise<void> };

export async function startSlackProcess(botToken: string, channels: readonly string[]): Promise<SlackProcess> {
  const script = fileURLToPath(new URL("./slack-peer-process.ts", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, botToken, ...channels], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => String(line)),
    once(child, "exit").then(([code]) => {
      throw new Error(`the Slack peer process exited (${String(code)}) before listening`);
    }),
  ]);
  lines.close();
  const { apiUrl, controlUrl, prometheusUrl } = JSON.parse(first) as { apiUrl: string; controlUrl: string; prometheusUrl: string };
  return {
    child,
    apiUrl,
    controlUrl,
    prometheusUrl,
    async close() {
      const exited = once(child, "exit");
      child.stdin?.end();
      await Promise.race([exited, sleep(5_000).then(() => child.kill("SIGKILL"))]);
    },
  };
}

/** A JSON request to the peer process's control server (see slack-peer-process.ts). */
export async function control<T>(slack: Pick<SlackProcess, "controlUrl">, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const res = await fetch(`${slack.controlUrl}${path}`, body === undefined ? {} : { method: "POST", body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as T };
}
