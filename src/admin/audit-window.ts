/**
 * The audit trail of a window, read through the admin API (`GET /api/audit`) the way `gateway
 * replay` and `gateway review` need it: every record from `now - since` to `now`, in ranges of at
 * most 31 days (the API's bound), pages of 5,000, following each cursor to its end.
 *
 * The store answers a range from the day partitions it touches, and inside each only the pages
 * whose time span meets it (src/audit/cosmos-audit-store.ts): a window costs what it holds, not
 * what the trail holds.
 */
import type { AuditRecord } from '../audit/audit-record';
import { AdminApiError, type AdminClient } from './admin-client';
import { InputError } from './desired-state';

const UNITS: Readonly<Record<string, number>> = { m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const DAY_MS = 86_400_000;
/** The admin API's longest range per query (src/routes/audit.ts). */
const RANGE_MS = 31 * DAY_MS;
const PAGE = '5000';

/**
 * A duration such as `30m`, `24h`, `7d` or `2w`, in milliseconds.
 *
 * @throws {InputError} anything else
 */
export function parseDuration(text: string, option = '--since'): number {
  const match = /^([1-9]\d{0,5})([mhdw])$/.exec(text.trim());
  if (match === null)
    throw new InputError(`${option}: expected a duration such as 30m, 24h, 7d or 2w, not "${text}"`);
  return Number(match[1]) * UNITS[match[2]!]!;
}

/**
 * Every record of `[fromMs, toMs]`. `onRead` hears how many have been read so far (progress).
 *
 * @throws {InputError} the gateway refused the window (older than its trail keeps)
 */
export async function readAuditWindow(
  client: Pick<AdminClient, 'audit'>,
  fromMs: number,
  toMs: number,
  onRead?: (records: number) => void,
): Promise<AuditRecord[]> {
  const records: AuditRecord[] = [];
  for (let start = fromMs; start <= toMs; start += RANGE_MS + 1) {
    const end = Math.min(toMs, start + RANGE_MS);
    const query: Record<string, string> = {
      from: new Date(start).toISOString(),
      to: new Date(end).toISOString(),
      limit: PAGE,
    };
    for (;;) {
      let page: { items: unknown[]; next?: string };
      try {
        page = await client.audit(query);
      } catch (err) {
        if (err instanceof AdminApiError && err.status === 400)
          throw new InputError(`--since: the gateway refused the window: ${err.message}`);
        throw err;
      }
      records.push(...(page.items as AuditRecord[]));
      onRead?.(records.length);
      if (page.next === undefined) break;
      query.cursor = page.next;
    }
  }
  return records;
}
