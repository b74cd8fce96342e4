import { dnsLabelProblem } from "../engine/names.ts";
import { parseRolloutId, type Rollout } from "../engine/rollout.ts";
import type { RolloutStore } from "../store/rollout-store.ts";

export type Found = { ok: true; rollout: Rollout } | { ok: false; error: string };

/**
 * A person names a rollout by id (`backend-svc#3`) or by target (`backend-svc`: its running rollout,
 * or with `latest`, the newest one even if it ended).
 */
export async function findRollout(store: RolloutStore, ref: string, opts: { latest?: boolean } = {}): Promise<Found> {
  if (ref.includes("#")) {
    if (!parseRolloutId(ref)) return { ok: false, error: `\`${ref}\` is not a rollout id (they look like \`backend-svc#3\`)` };
    const r = await store.get(ref);
    return r ? { ok: true, rollout: r } : { ok: false, error: `there is no rollout \`${ref}\`` };
  }
  const problem = dnsLabelProblem(ref);
  if (problem) return { ok: false, error: `\`${ref}\` is not a target name: it ${problem}` };
  const active = await store.activeFor(ref);
  if (active) return { ok: true, rollout: active };
  if (opts.latest) {
    const seq = Number(await store.redis.get(store.keys.seq(ref)));
    for (let s = seq; s > 0 && s > seq - 20; s--) {
      const r = await store.get(`${ref}#${s}`);
      if (r) return { ok: true, rollout: r };
    }
  }
  return { ok: false, error: `\`${ref}\` has no running rollout${opts.latest ? " and no past one" : ""}` };
}
