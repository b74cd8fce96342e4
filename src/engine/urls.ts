import { z } from "zod";

/**
 * URLs the bot is configured with, and URLs it names in error texts. A URL's userinfo (`user:password@`)
 * and query string are where credentials hide; an error text is shown in Slack and logged, so both are cut
 * from every URL a text names (`redactUrl`, `redactUrlsIn`: the one helper every error path uses). And a
 * configured URL may not carry userinfo at all (`credentialFreeUrl`): the bot refuses it when the
 * configuration is read, saying how to pass credentials instead.
 */

/** `https://u:p@host/a?t=1#x` -> `https://host/a`: no userinfo, no query, no fragment. Not a URL: returned as is. */
export function redactUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return redactUrlsIn(url);
  }
  const cut = u.username !== "" || u.password !== "" || u.search !== "" || u.hash !== "";
  u.username = "";
  u.password = "";
  u.search = "";
  u.hash = "";
  // The WHATWG serialiser adds a trailing `/` to an origin; keep the text as it came when nothing was cut.
  return cut ? u.href : url;
}

/** Anything that looks like `scheme://...` in a text, up to whitespace or a quote/bracket. */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`)\]]+/gi;

/** Every URL in a text redacted as redactUrl does (userinfo, query string, fragment). */
export function redactUrlsIn(text: string): string {
  return text.replace(URL_IN_TEXT, (m) => {
    // Userinfo may hold characters URL parsing stops at: cut it by hand first, then let URL do the rest.
    const at = m.indexOf("@");
    const scheme = m.indexOf("://");
    const slash = m.indexOf("/", scheme + 3);
    const noUser = at > scheme && (slash === -1 || at < slash) ? `${m.slice(0, scheme + 3)}${m.slice(at + 1)}` : m;
    const q = noUser.search(/[?#]/);
    return q === -1 ? noUser : noUser.slice(0, q);
  });
}

/** Whether a URL carries `user[:password]@`. */
export function hasUserinfo(url: string): boolean {
  try {
    const u = new URL(url);
    return u.username !== "" || u.password !== "";
  } catch {
    return false;
  }
}

/**
 * A URL setting that must not carry credentials. `how` says what to do instead (the message is shown at
 * start-up), e.g. "pass a bearer token with PROMETHEUS_BEARER_TOKEN_FILE".
 */
export function credentialFreeUrl(how: string, example?: string) {
  return z
    .url(example ? `must be a URL such as ${example}` : undefined)
    .refine((u) => !hasUserinfo(u), `must not carry a user name or password (user:password@): ${how}`);
}
