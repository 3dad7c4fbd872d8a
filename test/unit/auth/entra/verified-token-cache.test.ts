import { createHash } from 'node:crypto';
import { VerifiedTokenCache } from '../../../../src/auth/entra/verified-token-cache';
import type { Principal } from '../../../../src/auth/principal';
import { principalWith } from '../../../helpers/principal';

const principal = (expiresAt: number): Principal => principalWith({ expiresAt });

describe('VerifiedTokenCache', () => {
  it.each([
    ['before exp', 999, true],
    ['at exp', 1000, false],
    ['after exp', 1001, false],
  ])('a hit %s is served: %s', (_name, now, served) => {
    const cache = new VerifiedTokenCache(10);
    cache.set('k', principal(1000), 0);
    expect(cache.get('k', now) !== undefined).toBe(served);
  });

  it('drops expired entries on lookup', () => {
    const cache = new VerifiedTokenCache(10);
    cache.set('k', principal(1000), 0);
    cache.get('k', 1000);
    expect(cache.size).toBe(0);
  });

  it('never stores an already expired principal', () => {
    const cache = new VerifiedTokenCache(10);
    cache.set('k', principal(1000), 1000);
    expect(cache.size).toBe(0);
  });

  it('is bounded: evicts the oldest entry first', () => {
    const cache = new VerifiedTokenCache(3);
    for (const key of ['a', 'b', 'c', 'd']) cache.set(key, principal(1000), 0);
    expect(cache.size).toBe(3);
    expect(cache.get('a', 0)).toBeUndefined();
    expect(cache.get('d', 0)).toBeDefined();
  });

  it('keys by the whole token: one changed character is another key', () => {
    expect(VerifiedTokenCache.keyOf('a.b.c')).not.toBe(VerifiedTokenCache.keyOf('a.b.d'));
  });

  it('keys by the SHA-256 of the token text, never the token itself', () => {
    const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln';
    const key = VerifiedTokenCache.keyOf(token);
    expect(key).toBe(createHash('sha256').update(token, 'utf8').digest('base64'));
    expect(key).not.toContain(token.slice(0, 10));
  });
});
