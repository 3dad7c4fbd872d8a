/**
 * DPoP proofs remembered in Redis (`DPOP_REPLAY_STORE=redis`): `SET key 1 NX PXAT expiry`, one
 * round trip, answered `OK` the first time and nothing after, on every instance. The key expires
 * with the proof. Fails closed as the Cosmos DB store does: when Redis cannot tell, the caller
 * refuses the proof (src/dpop/dpop-verifier.ts).
 */
import { withinDeadline, type RedisCommands } from '../store/redis-connection';
import type { ReplayStore } from './replay-store';

export class RedisReplayStore implements ReplayStore {
  constructor(private readonly redis: RedisCommands) {}

  async firstUse(key: string, expiresAt: number): Promise<boolean> {
    const answer = await withinDeadline(
      this.redis.sendCommand<string | null>([
        'SET',
        `gw:dpop:${key}`,
        '1',
        'NX',
        'PXAT',
        String(Math.ceil(expiresAt * 1000)),
      ]),
    );
    return answer === 'OK';
  }
}
