/** The Prometheus binary tests run (tests may read the environment; the peer is told which binary). */
export const PROMETHEUS_BIN = process.env.PROMETHEUS_BIN ?? "/usr/bin/prometheus";
