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
    ...opts.extra,
  };
}
