import { Queue, type ConnectionOptions, type JobsOptions, type JobType } from "bullmq";

/**
 * Effects run in two BullMQ queues, each with its own worker, so that a mesh write or a due timer never
 * waits for a worker slot behind readings and message renders (issue 24: with 1,000 active rollouts every
 * slot of one worker could hold a reading when a click's write arrived). Priorities only order the jobs
 * that wait; a lane of their own gives them slots of their own.
 *
 * Both lanes' keys sit under the same prefix, so on a Redis Cluster they share its hash tag and one master.
 */
export const LANES = { mesh: "rollout-mesh", effects: "rollout-effects" } as const;
export type Lane = keyof typeof LANES;
export const LANE_NAMES = Object.keys(LANES) as Lane[];

/** Mesh writes (a click's, an abort's, a `--image` rollout's polls) and timers (steps, gates, deadlines, reminders). */
const MESH_JOBS: ReadonlySet<string> = new Set(["reconcile", "timer"]);

/** The one place a job's lane is chosen: by its name. */
export function laneOf(jobName: string): Lane {
  return MESH_JOBS.has(jobName) ? "mesh" : "effects";
}

/** Every state of all six type arguments given, so `add` takes exactly `Data` and `Name`. */
export type LaneQueue<Data, Name extends string> = Queue<Data, void, Name, Data, void, Name>;

/** The two queues, used as one: a job goes to its name's lane; removal and counts cover both. */
export class EffectLanes<Data, Name extends string> {
  readonly queues: Record<Lane, LaneQueue<Data, Name>>;

  constructor(connection: ConnectionOptions, prefix: string) {
    this.queues = {
      mesh: new Queue<Data, void, Name, Data, void, Name>(LANES.mesh, { connection, prefix }),
      effects: new Queue<Data, void, Name, Data, void, Name>(LANES.effects, { connection, prefix }),
    };
  }

  async add(name: Name, data: Data, opts?: JobsOptions): Promise<void> {
    await this.queues[laneOf(name)].add(name, data, opts);
  }

  /**
   * Remove a job from whichever lane holds it: a job queued before there were lanes sits in
   * `rollout-effects` whatever its name. How many were removed.
   */
  async remove(jobId: string): Promise<number> {
    const removed = await Promise.all(LANE_NAMES.map((lane) => this.queues[lane].remove(jobId)));
    return removed.reduce((a, b) => a + b, 0);
  }

  /**
   * Whether a job taken from `lane` is run by a twin instead: it belongs to the other lane (a version of the
   * bot before the lanes queued it here), and that lane holds a job with the same id (the start-up's resync
   * queued it again there), waiting, running or done. Without this a timer would fire twice after an upgrade.
   */
  async twinRuns(lane: Lane, name: string, jobId: string | undefined): Promise<boolean> {
    const own = laneOf(name);
    if (own === lane || jobId === undefined) return false;
    return (await this.queues[own].getJob(jobId)) !== undefined;
  }

  /** Jobs in each state, by queue name (`rollout-mesh`, `rollout-effects`). */
  async countsByQueue(...states: JobType[]): Promise<Record<string, Record<string, number>>> {
    const counts = await Promise.all(LANE_NAMES.map(async (lane) => [LANES[lane], await this.queues[lane].getJobCounts(...states)] as const));
    return Object.fromEntries(counts);
  }

  /** Jobs in each state, both lanes together. */
  async getJobCounts(...states: JobType[]): Promise<Record<string, number>> {
    const sum: Record<string, number> = {};
    for (const byState of Object.values(await this.countsByQueue(...states)))
      for (const [state, n] of Object.entries(byState)) sum[state] = (sum[state] ?? 0) + n;
    return sum;
  }

  async close(): Promise<void> {
    await Promise.all(LANE_NAMES.map((lane) => this.queues[lane].close()));
  }
}
