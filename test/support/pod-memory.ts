import { readFileSync } from "node:fs";
import { parse } from "yaml";

/**
 * The bot's memory limit in the shipped Deployment (deploy/base/deployment.yaml), and the V8 old-generation
 * size node gives itself inside a container of that limit. Node sizes its heap from the cgroup's limit
 * (`uv_get_constrained_memory`, then V8's `ConfigureDefaults`): a quarter of it, doubled on 64-bit builds
 * without pointer compression, at least 256 MiB. Outside a container (the bench, a laptop) node sizes it from
 * the machine's RAM instead, up to 4 GiB, and V8 then lets garbage grow up to four times the live heap
 * before collecting it: resident memory the pod would never show.
 */

/** `limits.memory` of the rollout-bot container, in MiB (Mi, Gi, M, G, or plain bytes). */
export function deploymentMemoryLimitMiB(text = readFileSync(new URL("../../deploy/base/deployment.yaml", import.meta.url), "utf8")): number {
  type Container = { name?: string; resources?: { limits?: { memory?: string | number } } };
  const doc = parse(text) as { spec?: { template?: { spec?: { containers?: Container[] } } } };
  const bot = doc.spec?.template?.spec?.containers?.find((c) => c.name === "rollout-bot");
  const raw = String(bot?.resources?.limits?.memory ?? "");
  const m = /^(\d+(?:\.\d+)?)(Mi|Gi|M|G)?$/.exec(raw);
  if (!m) throw new Error(`deploy/base/deployment.yaml: the rollout-bot container's limits.memory is "${raw}", not a size`);
  const n = Number(m[1]);
  const unit = m[2];
  const bytes = unit === "Gi" ? n * 2 ** 30 : unit === "Mi" ? n * 2 ** 20 : unit === "G" ? n * 1e9 : unit === "M" ? n * 1e6 : n;
  return bytes / 2 ** 20;
}

/** The old generation node picks in a container limited to `limitMiB` (64-bit, no pointer compression). */
export function oldSpaceInContainerMiB(limitMiB: number): number {
  return Math.min(4096, Math.max(256, Math.floor((limitMiB / 4) * 2)));
}
