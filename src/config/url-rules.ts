/**
 * The one rule for URLs the gateway trusts or calls: `https`, except on a loopback host, which
 * local runs and tests use over plain `http` (docs/reference.md §1).
 */

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** True for the loopback host names docs/reference.md (§1) allows plain http on. */
export function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname.toLowerCase());
}

/**
 * Parses `value` as an absolute http(s) URL that the gateway may trust: https anywhere, http only
 * on loopback. Returns the reason it is not, or the parsed URL.
 */
export function parseTrustedUrl(value: string): { url: URL } | { problem: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: 'expected an absolute URL' };
  }
  if (url.username || url.password) return { problem: 'must not carry credentials' };
  if (url.search || url.hash) return { problem: 'must not have a query or fragment' };
  if (url.protocol === 'https:') return { url };
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return { url };
  return { problem: 'must be https (plain http only on 127.0.0.1, localhost or [::1])' };
}

/** Host patterns of `DOWNSTREAM_ALLOWED_HOSTS`: exact names, or `*.suffix` for any subdomain. */
export function hostMatchesAllowList(hostname: string, allowed: readonly string[]): boolean {
  const host = hostname.toLowerCase();
  return allowed.some((pattern) => {
    if (pattern.startsWith('*.')) {
      const suffix = pattern.slice(1); // ".azurewebsites.net"
      // At least one label before the suffix: "*.x.net" does not allow "x.net" itself.
      return host.length > suffix.length && host.endsWith(suffix);
    }
    return host === pattern;
  });
}
