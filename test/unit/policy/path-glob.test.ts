import fc from 'fast-check';
import {
  claimSegmentValue,
  compilePathGlob,
  coversSubtree,
  globProblem,
  matchPath,
  PathGlobError,
  reachesInto,
  splitPath,
} from '../../../src/policy/path-glob';

const seg = (path: string): string[] => (path === '/' ? [] : path.slice(1).split('/'));

describe('globProblem', () => {
  it.each([
    ['/'],
    ['/**'],
    ['/orders'],
    ['/customers/*/orders'],
    ['/customers/{claims.oid}/**'],
    ['/**/x/**'],
    ['/a-b_c.d~e:f@g'],
    ['/{claims.extn.dept}'],
  ])('accepts %s', (glob) => {
    expect(globProblem(glob)).toBeUndefined();
  });

  it.each([
    ['', 'empty'],
    ['orders', 'start'],
    ['/orders/', 'empty segments'],
    ['//orders', 'empty segments'],
    ['/a/../b', '".."'],
    ['/a/./b', '".."'],
    ['/a\\b', 'character'],
    ['/a%2fb', 'character'],
    ['/a\u0000b', 'character'],
    ['/a b', 'character'],
    ['/a?b', 'character'],
    ['/*.json', 'whole segments'],
    ['/a**', 'whole segments'],
    ['/***', 'whole segments'],
    ['/user-{claims.oid}', 'whole segment'],
    ['/{claims.}', 'placeholder'],
    ['/{oid}', 'placeholder'],
    ['/{claims.o id}', 'placeholder'],
    [`/${'a'.repeat(600)}`, '512'],
  ])('refuses %j (%s)', (glob, hint) => {
    expect(globProblem(glob)).toContain(hint);
  });

  it('compilePathGlob throws a PathGlobError on a refused glob', () => {
    expect(() => compilePathGlob('/a/../b')).toThrow(PathGlobError);
  });
});

describe('splitPath', () => {
  it.each([
    ['', []],
    ['/', []],
    ['/a', ['a']],
    ['/a/b', ['a', 'b']],
    ['/a/b/', ['a', 'b']],
    ['a/b', undefined],
    ['/a//b', undefined],
    ['/a/../b', undefined],
    ['/a/./b', undefined],
    ['/..', undefined],
    ['/a\\b', undefined],
    ['/%2e%2e', undefined],
    ['/a\u0000', undefined],
    ['//', undefined],
  ])('%j -> %j', (path, expected) => {
    expect(splitPath(path)).toEqual(expected);
  });
});

describe('claimSegmentValue', () => {
  it.each<[string, unknown, string | undefined]>([
    ['string', '42', '42'],
    ['number', 42, '42'],
    ['negative number', -1, '-1'],
    ['slash', 'a/b', undefined],
    ['backslash', 'x\\y', undefined],
    ['star', '*', undefined],
    ['globstar', '**', undefined],
    ['question mark', 'a?', undefined],
    ['dot-dot', '..', undefined],
    ['dot', '.', undefined],
    ['empty', '', undefined],
    ['percent-encoded', '%2e%2e', undefined],
    ['NUL', 'a\u0000', undefined],
    ['boolean', true, undefined],
    ['array', ['42'], undefined],
    ['object', { v: '42' }, undefined],
    ['null', null, undefined],
    ['NaN', Number.NaN, undefined],
  ])('%s', (_label, value, expected) => {
    expect(claimSegmentValue({ c: value }, 'c')).toBe(expected);
  });

  it('ignores inherited properties', () => {
    expect(claimSegmentValue({}, 'constructor')).toBeUndefined();
    expect(claimSegmentValue({}, '__proto__')).toBeUndefined();
  });
});

describe('matchPath', () => {
  const claims = { oid: '42', num: 7, slash: 'a/b', star: '*', dots: '..', arr: ['42'] };
  it.each<[string, string, boolean]>([
    ['/', '/', true],
    ['/', '/a', false],
    ['/**', '/', true],
    ['/**', '/a/b/c', true],
    ['/orders', '/orders', true],
    ['/orders', '/Orders', false],
    ['/orders', '/orders/1', false],
    ['/orders/*', '/orders/1', true],
    ['/orders/*', '/orders', false],
    ['/orders/*', '/orders/1/2', false],
    ['/orders/**', '/orders', true],
    ['/orders/**', '/orders/1/2/3', true],
    ['/orders/**', '/ordersx', false],
    ['/**/items', '/items', true],
    ['/**/items', '/a/b/items', true],
    ['/**/items', '/a/b/items/x', false],
    ['/a/**/b/**/c', '/a/b/c', true],
    ['/a/**/b/**/c', '/a/x/b/y/z/c', true],
    ['/a/**/b/**/c', '/a/x/c/b', false],
    ['/**/*', '/', false],
    ['/**/*', '/x', true],
    ['/*/*', '/x/y', true],
    ['/customers/{claims.oid}/**', '/customers/42', true],
    ['/customers/{claims.oid}/**', '/customers/42/orders/1', true],
    ['/customers/{claims.oid}/**', '/customers/420', false],
    ['/customers/{claims.oid}/**', '/customers/4', false],
    ['/customers/{claims.num}', '/customers/7', true],
    ['/customers/{claims.missing}/**', '/customers/42', false],
    ['/customers/{claims.slash}/**', '/customers/a/b', false],
    ['/customers/{claims.star}', '/customers/*', false],
    ['/customers/{claims.star}', '/customers/anything', false],
    ['/customers/{claims.dots}/x', '/customers/../x', false],
    ['/customers/{claims.arr}', '/customers/42', false],
    ['/**', '/a/../b', false],
    ['/**', '/a/./b', false],
    ['/**', '/a//b', false],
    ['/*', '/a\\b', false],
  ])('%s vs %s -> %s', (glob, path, expected) => {
    expect(matchPath(compilePathGlob(glob), seg(path), claims)).toBe(expected);
  });

  it('compares without case when compiled for a deny', () => {
    const glob = compilePathGlob('/admin/{claims.oid}/**', { caseInsensitive: true });
    expect(matchPath(glob, ['ADMIN', 'AbC', 'x'], { oid: 'aBc' })).toBe(true);
    expect(matchPath(compilePathGlob('/admin/**'), ['ADMIN'], {})).toBe(false);
  });
});

describe('coversSubtree / reachesInto', () => {
  const claims = { oid: '42', bad: 'a/b' };
  it.each<[string, string, boolean, boolean]>([
    // glob, prefix, covers, reaches
    ['/**', '/', true, true],
    ['/**', '/customers/42', true, true],
    ['/customers/{claims.oid}/**', '/customers/42', true, true],
    ['/customers/{claims.oid}/**', '/customers/42/orders', true, true],
    ['/customers/{claims.oid}/**', '/customers/420', false, false],
    ['/customers/{claims.oid}/**', '/customers', false, true],
    ['/customers/{claims.oid}/**', '/', false, true],
    ['/customers/{claims.bad}/**', '/customers/a', false, false],
    ['/customers/{claims.missing}/**', '/customers', false, false],
    ['/customers/*', '/customers/42', false, true],
    ['/customers/*', '/customers', false, true],
    ['/customers/*', '/customers/42/x', false, false],
    ['/customers/*/**', '/customers/42', true, true],
    ['/customers/*/**', '/customers', false, true],
    ['/customers/**', '/customers', true, true],
    ['/customers/**', '/invoices', false, false],
    ['/customers', '/customers', false, true],
    ['/customers', '/customers/42', false, false],
    ['/**/*', '/customers', true, true],
    ['/**/*', '/', false, true],
    ['/**/secret', '/customers', false, true],
    ['/**/secret/**', '/a/secret', true, true],
    ['/*/secret', '/customers/42', false, false],
    ['/*/secret', '/customers', false, true],
    ['/a/**/b/**', '/a/x/b', true, true],
    ['/a/**/b/**', '/a/x', false, true],
    ['/', '/', false, true],
  ])('%s at %s: covers %s, reaches %s', (glob, prefix, covers, reaches) => {
    const compiled = compilePathGlob(glob);
    expect(coversSubtree(compiled, seg(prefix), claims)).toBe(covers);
    expect(reachesInto(compiled, seg(prefix), claims)).toBe(reaches);
  });

  it('never says covered when some continuation of the prefix does not match (random globs)', () => {
    const segment = fc.constantFrom('a', 'b', '*', '**', '{claims.oid}');
    const alphabet = ['a', 'b', '42', 'z'];
    const continuations: string[][] = [[]];
    for (let depth = 0; depth < 3; depth++) {
      for (const c of continuations.filter((x) => x.length === depth)) {
        for (const s of alphabet) continuations.push([...c, s]);
      }
    }
    fc.assert(
      fc.property(
        fc.array(segment, { minLength: 1, maxLength: 4 }),
        fc.array(fc.constantFrom('a', 'b', '42'), { maxLength: 3 }),
        (parts, prefix) => {
          const source = `/${parts.join('/')}`;
          if (globProblem(source) !== undefined) return;
          const glob = compilePathGlob(source);
          if (!coversSubtree(glob, prefix, claims)) return;
          for (const c of continuations) expect(matchPath(glob, [...prefix, ...c], claims)).toBe(true);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('answers false for an invalid prefix', () => {
    const glob = compilePathGlob('/**');
    expect(coversSubtree(glob, ['..'], {})).toBe(false);
    expect(reachesInto(glob, ['a', ''], {})).toBe(false);
  });

  it('reaches into a prefix in another case when compiled for a deny', () => {
    const glob = compilePathGlob('/Admin/**', { caseInsensitive: true });
    expect(reachesInto(glob, ['ADMIN'], {})).toBe(true);
  });
});
