/**
 * Quotas counted in Redis (`REDIS_URL`), exact across instances: one script per call, run
 * atomically by Redis, reads every counter of the call, and counts the call in all of them only
 * when all have room. N instances together never allow more than `limit` per key and window,
 * whatever the interleaving. One round trip (`EVALSHA`) per call.
 *
 * Each counter expires at the end of its window (`PEXPIREAT`, set when it is created), so Redis
 * holds only the windows in progress.
 */
import { RedisScript, type RedisCommands } from '../store/redis-connection';
import type { QuotaCounter, QuotaOutcome, QuotaStore } from './quota';

/**
 * KEYS: the counters. ARGV: limit and window end (unix ms) per counter, then `take` or `peek`.
 * Answers `{room, count1, count2, ...}`: room 1 when every counter was under its limit.
 */
const COUNT = new RedisScript(`
local n = #KEYS
local counts = {}
local room = 1
for i = 1, n do
  local c = tonumber(redis.call('GET', KEYS[i]) or '0')
  counts[i] = c
  if c >= tonumber(ARGV[2 * i - 1]) then room = 0 end
end
if room == 1 and ARGV[2 * n + 1] == 'take' then
  for i = 1, n do
    counts[i] = redis.call('INCR', KEYS[i])
    if counts[i] == 1 then redis.call('PEXPIREAT', KEYS[i], ARGV[2 * i]) end
  end
end
table.insert(counts, 1, room)
return counts
`);

export class RedisQuotaStore implements QuotaStore {
  readonly kind = 'redis' as const;

  constructor(private readonly redis: RedisCommands & { close?(): Promise<void> }) {}

  private async count(counters: readonly QuotaCounter[], mode: 'take' | 'peek'): Promise<QuotaOutcome> {
    const keys = counters.map((c) => c.key);
    // A second past the window's end: instances' clocks differ a little, never the window.
    const args = [...counters.flatMap((c) => [String(c.limit), String(c.resetAt + 1000)]), mode];
    const reply = await COUNT.run<number[]>(this.redis, keys, args);
    const [room, ...counts] = reply.map(Number);
    return { allowed: room === 1, counts };
  }

  take(counters: readonly QuotaCounter[]): Promise<QuotaOutcome> {
    return this.count(counters, 'take');
  }

  peek(counters: readonly QuotaCounter[]): Promise<QuotaOutcome> {
    return this.count(counters, 'peek');
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}
