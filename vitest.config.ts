import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The long suites (faults-long: kills, storms, load; long: real-Prometheus automatic steps and snapshots, Redis
    // Cluster over TLS) and the image's checks have their own configs and commands: `npm run test:faults`,
    // `npm run image:test`. The README's test command runs both suites.
    exclude: [...configDefaults.exclude, "test/faults-long/**", "test/long/**", "test/image/**"],
    // Integration tests start local HTTP peers and talk to real Redis/Prometheus: give them room,
    // but keep the whole suite well under five minutes on two cores.
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    // Test files share their fork's module cache (no test mocks modules or changes globals): loading the
    // Kubernetes client and Bolt once per fork instead of once per file took collection from 44 s to 10 s.
    poolOptions: { forks: { maxForks: 2, minForks: 1, isolate: false } },
  },
});
