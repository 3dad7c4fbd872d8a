import { MemoryStatementReplay } from '../../../packages/verifier/src/index';

describe('MemoryStatementReplay', () => {
  it('accepts a jti once until it expires, then again', () => {
    let now = 1000;
    const memory = new MemoryStatementReplay(() => now);
    expect(memory.firstUse('a', 1091)).toBe(true);
    expect(memory.firstUse('a', 1091)).toBe(false);
    now = 1090.9;
    expect(memory.firstUse('a', 1200)).toBe(false);
    now = 1091;
    expect(memory.firstUse('a', 1200)).toBe(true);
  });

  it('sweeps expired ids when full, and refuses rather than forget a live one', () => {
    let now = 1000;
    const memory = new MemoryStatementReplay(() => now, 2);
    expect(memory.firstUse('old', 1001)).toBe(true);
    expect(memory.firstUse('b', 1100)).toBe(true);
    now = 1002;
    expect(memory.firstUse('c', 1100)).toBe(true); // 'old' expired: swept
    expect(memory.firstUse('d', 1100)).toBe(false); // full of live ids
    expect(memory.firstUse('b', 1100)).toBe(false);
  });
});
