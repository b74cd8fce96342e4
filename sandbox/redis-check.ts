import { Redis } from "ioredis";

/** Does Redis answer at this URL within `timeoutMs`? (One connection attempt, no retries.) */
export async function redisAnswers(url: string, timeoutMs = 1_500): Promise<boolean> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: timeoutMs });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    return (await redis.ping()) === "PONG";
  } catch {
    return false;
  } finally {
    redis.disconnect();
  }
}
