/**
 * The environment of a bot started as its own process (`src/main.ts` or `npm start`) against the local
 * peers, for the tests that signal or kill it: only what the bot reads, nothing inherited by accident.
 */
export function botProcessEnv(opts: {
  signingSecret: string;
  slack: { botToken: string; apiUrl: string };
  kube: { kubeconfigPath: string };
  redisUrl: string;
  port: number;
  healthPort: number;
  prefix: string;
  logLevel: string;
  extra?: Record<string, string>;
}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    SLACK_SIGNING_SECRET: opts.signingSecret,
    SLACK_BOT_TOKEN: opts.slack.botToken,
    SLACK_API_URL: opts.slack.apiUrl,
    KUBECONFIG: opts.kube.kubeconfigPath,
    REDIS_URL: opts.redisUrl,
    PORT: String(opts.port),
    HEALTH_PORT: String(opts.healthPort),
    ROLLOUT_KEY_PREFIX: opts.prefix,
    LOG_LEVEL: opts.logLevel,
    // Tests and benchmarks start and chart far more than a person would: the per-person limits are
    // proved in test/security, and generous elsewhere (like the Slack budget being off).
    ROLLOUT_LIMIT_STARTS_PER_MINUTE: "10000",
    ROLLOUT_LIMIT_REFRESHES_PER_MINUTE: "10000",
    ROLLOUT_LIMIT_CHARTS_PER_MINUTE: "10000",
    ROLLOUT_CHART_THREAD_SECONDS: "0",
    ...opts.extra,
  };
}
