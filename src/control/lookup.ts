import { dnsLabelProblem } from "../engine/names.ts";
import { parseRolloutId, type Rollout } from "../engine/rollout.ts";
import { echo } from "../slack/views/format.ts";
import type { RolloutStore } from "../store/rollout-store.ts";

export type Found = { ok: true; rollout: Rollout } | { ok: false; error: string };

/**
 * What is wrong with a typed rollout id (`backend-svc#3`) or target name, naming the part at fault and,
 * when only upper case is, the name meant; undefined when it is well-formed. Pure.
 */
export function refProblem(ref: string): string | undefined {
  const lower = ref.toLowerCase();
  const meant = lower !== ref && !refProblem(lower) ? ` (names are lower-case: ${echo(lower)})` : "";
  if (!ref.includes("#")) {
    const problem = dnsLabelProblem(ref);
    return problem ? `${echo(ref)} is not a target name: it ${problem}${meant}` : undefined;
  }
  if (parseRolloutId(ref)) return undefined;
  const hash = ref.lastIndexOf("#");
  const target = ref.slice(0, hash);
  const seq = ref.slice(hash + 1);
  const targetProblem = dnsLabelProblem(target);
  const why = targetProblem
    ? `its target ${echo(target)} is not a valid name: it ${targetProblem}`
    : `${echo(seq)} after the \`#\` is not a rollout number (1 to 9 digits)`;
  return `${echo(ref)} is not a rollout id: ${why}${meant}. Ids look like \`backend-svc#3\``;
}

/**
 * A person names a rollout by id (`backend-svc#3`) or by target (`backend-svc`: its running rollout,
 * or with `latest`, the newest one even if it ended).
 */
export async function findRollout(store: RolloutStore, ref: string, opts: { latest?: boolean } = {}): Promise<Found> {
  const problem = refProblem(ref);
  if (problem) return { ok: false, error: problem };
  if (ref.includes("#")) {
    const r = await store.get(ref);
    return r ? { ok: true, rollout: r } : { ok: false, error: `there is no rollout ${echo(ref)}` };
  }
  const active = await store.activeFor(ref);
  if (active) return { ok: true, rollout: active };
  if (opts.latest) {
    const seq = Number(await store.redis.get(store.keys.seq(ref)));
    for (let s = seq; s > 0 && s > seq - 20; s--) {
      const r = await store.get(`${ref}#${s}`);
      if (r) return { ok: true, rollout: r };
    }
  }
  return { ok: false, error: `${echo(ref)} has no running rollout${opts.latest ? " and no past one" : ""}` };
}
