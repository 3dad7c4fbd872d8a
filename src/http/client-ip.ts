import type { HttpRequest } from '@azure/functions';

/**
 * The caller's IP address as the platform saw it, for per-IP rate limits.
 *
 * Why the last `X-Forwarded-For` entry: Azure's front ends (and the local stack's adapter)
 * append the address they accepted the connection from, so the last entry is the one a client
 * cannot forge; earlier entries are whatever the client sent. Ports are dropped
 * (`1.2.3.4:5678`, `[::1]:5678`). Without the header: `unknown`, one shared bucket.
 */
export function clientIp(request: HttpRequest): string {
  const header = request.headers.get('x-forwarded-for');
  const last = header?.split(',').at(-1)?.trim();
  if (!last) return 'unknown';
  const bracketed = /^\[([0-9a-fA-F:.]+)\](?::\d+)?$/.exec(last);
  if (bracketed) return bracketed[1]!.toLowerCase();
  const v4 = /^(\d{1,3}(?:\.\d{1,3}){3})(?::\d+)?$/.exec(last);
  if (v4) return v4[1]!;
  return /^[0-9a-fA-F:]+$/.test(last) ? last.toLowerCase() : 'unknown';
}
