/**
 * Code of the docs that runs as written: the mobile client's token cache (docs/mobile.md
 * `exchange` and `sasFor`), compiled from the page's own text and run against a fake gateway and
 * clock, so that the page cannot drift into code that reuses a token until its last millisecond.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import ts from 'typescript';

const MOBILE = readFileSync(join(__dirname, '../../docs/mobile.md'), 'utf8');

/** The TypeScript blocks of a page that hold `marker`. */
function blockWith(markdown: string, marker: string): string {
  const blocks = [...markdown.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const block = blocks.find((b) => b.includes(marker));
  if (block === undefined) throw new Error(`no ts block holds ${marker}`);
  return block;
}

describe('docs/mobile.md: exchange and sasFor, as written', () => {
  it('reuses a token until a minute before it expires (half its lifetime when short), then exchanges again', async () => {
    // The exchange block, and the cache block up to the call that uses it.
    const exchangeBlock = blockWith(MOBILE, 'async function exchange(');
    const cacheBlock = blockWith(MOBILE, 'async function sasFor(').split('\nconst res = ')[0]!;
    const js = ts.transpileModule(`${exchangeBlock}\n${cacheBlock}\nexports.sasFor = sasFor;`, {
      compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.CommonJS },
    }).outputText;

    let now = 1_000_000;
    let lifetime = 300;
    let issued = 0;
    const fakeFetch = (url: string) => {
      expect(url).toMatch(/\/token$/);
      issued++;
      return Promise.resolve({
        ok: true,
        json: () => Promise.resolve({ access_token: `sas-${issued}`, expires_in: lifetime }),
      });
    };
    const context = {
      exports: {} as { sasFor?: (resource: string, scope: string) => Promise<string> },
      fetch: fakeFetch,
      entraToken: () => Promise.resolve('entra'),
      URLSearchParams,
      Map,
      Math,
      Date: { now: () => now },
    };
    runInNewContext(js, context);
    const sasFor = context.exports.sasFor!;

    expect(await sasFor('orders/customers/42', 'read')).toBe('sas-1');
    now += 239_999; // 60.001 s left of 300
    expect(await sasFor('orders/customers/42', 'read')).toBe('sas-1');
    now += 1; // a minute left: refreshed before it can expire in flight
    expect(await sasFor('orders/customers/42', 'read')).toBe('sas-2');

    lifetime = 60; // a short token: refreshed at half its lifetime
    expect(await sasFor('orders', 'read')).toBe('sas-3');
    now += 29_999;
    expect(await sasFor('orders', 'read')).toBe('sas-3');
    now += 1;
    expect(await sasFor('orders', 'read')).toBe('sas-4');
  });
});
