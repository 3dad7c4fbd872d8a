import { randomText } from '../../src/random';

describe('randomText', () => {
  it('returns the asked number of bytes in the asked encoding', () => {
    expect(randomText(16, 'base64url')).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(randomText(8, 'hex')).toMatch(/^[0-9a-f]{16}$/);
  });

  it('never repeats across many pool refills', () => {
    // 2,000 ids of 16 bytes span eight 4 KiB draws, including draws that do not divide evenly.
    const ids = new Set(Array.from({ length: 2000 }, (_, i) => randomText(i % 2 === 0 ? 16 : 13, 'hex')));
    expect(ids.size).toBe(2000);
  });

  it.each([0, -1, 257, 1.5, Number.NaN])('refuses %p bytes', (bytes) => {
    expect(() => randomText(bytes, 'hex')).toThrow(RangeError);
  });
});
