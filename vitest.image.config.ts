import { defineConfig } from "vitest/config";

/**
 * The image's own proof (issue 25): `npm run image:test` builds the image (layer cache) and runs these checks
 * against a container. Kept out of `npm test`: it needs a container engine and a built image.
 */
export default defineConfig({
  test: {
    include: ["test/image/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    poolOptions: { forks: { maxForks: 1, minForks: 1 } },
  },
});
