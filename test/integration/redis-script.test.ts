import { randomBytes } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { RedisScript } from "../../src/store/script.ts";
import { cleanupPrefix, randomPrefix, testRedis } from "../support/redis.ts";

/**
 * The store's Lua scripts go by SHA (EVALSHA) and fall back to their text only when the server does not
 * know them (real Redis): a script Redis has never seen still runs, and from then on is sent by SHA alone.
 */

const redis = testRedis();
const prefix = randomPrefix("script");
afterAll(async () => {
  await cleanupPrefix(redis, prefix);
  await redis.quit();
});

it("a script the server has not seen runs (NOSCRIPT, then its text), and is known by its SHA afterwards", async () => {
  // A comment nobody else sends: this text is surely not in the server's script cache yet.
  const script = new RedisScript(`-- ${randomBytes(8).toString("hex")}\nreturn redis.call('INCRBY', KEYS[1], ARGV[1])`);
  const key = `${prefix}:n`;
  const [known] = (await redis.script("EXISTS", script.sha)) as number[];
  expect(known).toBe(0);
  expect(await script.run(redis, [key], [5])).toBe(5);
  const [knownAfter] = (await redis.script("EXISTS", script.sha)) as number[];
  expect(knownAfter).toBe(1);
  expect(await script.run(redis, [key], ["2"])).toBe(7);
  expect(await redis.get(key)).toBe("7");
});

it("an error raised by the script itself is the caller's, not retried as text", async () => {
  const script = new RedisScript(`-- ${randomBytes(8).toString("hex")}\nreturn redis.error_reply('NOPE refused by the script')`);
  await script.run(redis, [`${prefix}:x`]).catch(() => undefined); // loads it
  await expect(script.run(redis, [`${prefix}:x`])).rejects.toThrow(/NOPE refused by the script/);
});
