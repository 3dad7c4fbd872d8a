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

/** Where the gateway reaches Redis (`REDIS_URL`), as {@link parseRedisUrl} reads it. */
export interface RedisEndpoint {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
  readonly username: string | undefined;
  /** Absent: Entra ID authentication with the managed identity (no access keys). */
  readonly password: string | undefined;
  readonly database: number;
}

/**
 * `REDIS_URL`: `rediss://host:port` (TLS; Azure Managed Redis listens on 10000), or
 * `redis://` on a loopback host only, as the other URLs the gateway trusts. A password in the
 * URL authenticates with it; without one the gateway uses Entra ID (docs/quotas.md).
 */
export function parseRedisUrl(value: string): RedisEndpoint | { problem: string } {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: 'expected a redis:// or rediss:// URL' };
  }
  if (url.protocol !== 'rediss:' && url.protocol !== 'redis:')
    return { problem: 'expected a redis:// or rediss:// URL' };
  if (url.protocol === 'redis:' && !isLoopbackHost(url.hostname))
    return { problem: 'must be rediss:// (TLS; plain redis:// only on 127.0.0.1, localhost or [::1])' };
  if (url.hostname === '') return { problem: 'must name a host' };
  if (url.search || url.hash) return { problem: 'must not have a query or fragment' };
  const path = url.pathname.replace(/^\//, '');
  if (path !== '' && !/^\d{1,2}$/.test(path)) return { problem: 'the path may only be a database number' };
  const tls = url.protocol === 'rediss:';
  return {
    url: `${url.protocol}//${url.host}${path === '' ? '' : `/${path}`}`,
    host: url.hostname.replace(/^\[|\]$/g, ''),
    port: url.port === '' ? 6379 : Number(url.port),
    tls,
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
    database: path === '' ? 0 : Number(path),
  };
}
