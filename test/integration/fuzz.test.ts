import fc from 'fast-check';
import { parsePolicy } from '../../src/policy/model';
import type { LocalStack } from '../../src/host/local/local-stack';
import { authorize, call, jsonCall } from '../helpers/http';
import { issue } from '../helpers/gateway-stack';
import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import { startDemoStack } from '../helpers/demo-stack';

/**
 * Property-based fuzzing of the gateway's parsers through real HTTP: whatever arrives, the answer
 * is never a 5xx, the process never crashes, and nothing hostile is ever allowed.
 */
describe('fuzzing the parsers over HTTP', () => {
  let stack: LocalStack;
  let api: string;
  let admin: string;
  let reader: string;

  beforeAll(async () => {
    ({ stack, api, admin, reader } = await startDemoStack());
  });

  afterAll(() => stack?.close());

  const RUNS = { numRuns: 150 };

  /** Header values fetch can send: visible ASCII and spaces, no CR/LF. */
  const headerValue = fc.string({
    unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
    maxLength: 300,
  });

  /** A real token with one character changed, truncated, or extended. */
  const mangledToken = fc
    .tuple(fc.nat(), fc.constantFrom('flip', 'cut', 'append', 'dot'))
    .map(([n, how]) => {
      const i = n % reader.length;
      if (how === 'flip') return reader.slice(0, i) + (reader[i] === 'A' ? 'B' : 'A') + reader.slice(i + 1);
      if (how === 'cut') return reader.slice(0, i);
      if (how === 'append') return `${reader}${reader.slice(0, i % 20)}`;
      return reader.replaceAll('.', i % 2 ? '..' : '');
    })
    .filter((t) => t !== reader);

  it('Authorization header: always 401 problem+json, never a decision', async () => {
    const scheme = fc.constantFrom('Bearer ', 'bearer ', 'SharedAccessSignature ', 'Basic ', '', 'Bearer  ');
    await fc.assert(
      fc.asyncProperty(scheme, fc.oneof(headerValue, mangledToken), async (prefix, value) => {
        const res = await call(
          `${api}/authorize`,
          jsonCall(
            'POST',
            undefined,
            { resource: 'orders', action: 'read', path: '/' },
            { authorization: prefix + value },
          ),
        );
        expect(res.status).toBe(401);
        expect(res.headers.get('content-type')).toBe('application/problem+json');
        expect(res.headers.get('www-authenticate')).toBeTruthy();
        expect(JSON.stringify(res.json)).not.toContain(value.length > 8 ? value : '\u0000');
      }),
      RUNS,
    );
  });

  it('decision body: 200 or 400, never an allow for a caller whose roles grant nothing', async () => {
    const nobody = stack.idp!.mintToken({ roles: ['Nobody'] });
    const body = fc.oneof(
      fc.jsonValue(),
      fc.record(
        {
          resource: fc.oneof(fc.constant('orders'), fc.string()),
          action: fc.oneof(fc.constantFrom('read', 'create', 'write', 'delete'), fc.string()),
          path: fc.oneof(
            fc.string(),
            fc.constantFrom('/', '/customers/1', '/../', '/%2e%2e/x', '//', '/a\\b'),
          ),
          principal: fc.jsonValue(),
        },
        { requiredKeys: [] },
      ),
    );
    await fc.assert(
      fc.asyncProperty(body, async (b) => {
        const res = await authorize(api, nobody, JSON.stringify(b));
        expect([200, 400, 403]).toContain(res.status);
        if (res.status === 200) expect(res.json.allowed).toBe(false);
      }),
      RUNS,
    );
  });

  it('policy JSON: never a 5xx; what is accepted is a valid policy and reads back the same', async () => {
    const policyLike = fc.record(
      {
        id: fc.constant('fuzz'),
        effect: fc.oneof(fc.constantFrom('allow', 'deny'), fc.string()),
        resource: fc.oneof(fc.constantFrom('orders', '*'), fc.string()),
        paths: fc.array(
          fc.oneof(fc.constantFrom('/**', '/a/*', '/{claims.oid}/**', '/a/../b', '//'), fc.string()),
          { maxLength: 3 },
        ),
        actions: fc.array(fc.oneof(fc.constantFrom('read', 'create', '*'), fc.string()), { maxLength: 3 }),
        principals: fc.oneof(fc.constant({ roles: ['R'] }), fc.jsonValue()),
        conditions: fc.array(fc.jsonValue(), { maxLength: 2 }),
        enabled: fc.oneof(fc.boolean(), fc.jsonValue()),
        extra: fc.jsonValue(),
      },
      { requiredKeys: ['id'] },
    );
    await fc.assert(
      fc.asyncProperty(fc.oneof(policyLike, fc.jsonValue()), async (doc) => {
        const res = await call(`${api}/policies/fuzz`, jsonCall('PUT', admin, JSON.stringify(doc)));
        expect(res.status).toBeLessThan(500);
        if (res.status === 200 || res.status === 201) {
          expect(parsePolicy(doc).ok).toBe(true);
          const read = await call(`${api}/policies/fuzz`, jsonCall('GET', admin));
          expect(read.json).toEqual(res.json);
        } else {
          expect(res.json.code).toMatch(/^ERR_/);
        }
      }),
      RUNS,
    );
    await call(`${api}/policies/fuzz`, jsonCall('DELETE', admin));
  });

  it('SAS token string: every mutation of a real token is refused with 401 (so nothing is forwarded)', async () => {
    const sas = await issue(api, { subject_token: reader, resource: 'orders', scope: 'read' }).catch(
      () => undefined,
    );
    // The demo policies grant readers their own path only: ask for that scope.
    const own = await issue(api, {
      subject_token: reader,
      resource: `orders/customers/${DEV_USER_OID}`,
      scope: 'read',
    });
    expect(sas).toBeUndefined(); // the whole resource is more than policy allows
    const mutated = fc
      .tuple(
        fc.nat(own.length - 1),
        fc.constantFrom('flip', 'drop', 'dup', 'swapField', 'garbage'),
        fc.string({ maxLength: 8 }),
      )
      .map(([i, how, junk]) => {
        if (how === 'flip') return own.slice(0, i) + (own[i] === 'a' ? 'b' : 'a') + own.slice(i + 1);
        if (how === 'drop')
          return own
            .split('&')
            .filter((_, n) => n !== i % 12)
            .join('&');
        if (how === 'dup') return `${own}&${own.split('&')[i % 12] ?? 'sv=1'}`;
        if (how === 'swapField') return own.replace(/sp=r/, 'sp=rcwd');
        return `${own.slice(0, i)}${encodeURIComponent(junk)}${own.slice(i)}`;
      })
      .filter((t) => t !== own);
    await fc.assert(
      fc.asyncProperty(mutated, async (token) => {
        const res = await call(`${api}/proxy/orders/customers/${DEV_USER_OID}/orders`, {
          headers: { authorization: `SharedAccessSignature ${token}` },
        });
        expect(res.status).toBe(401);
        expect(String(res.json.code)).toMatch(/^ERR_(SAS_|CREDENTIAL_)/);
      }),
      RUNS,
    );
  });

  it('exchange form: never a 5xx and never a token for a scope policy does not grant', async () => {
    const param = fc.oneof(
      fc.string({ maxLength: 40 }),
      fc.constantFrom('orders', 'orders/customers/x', 'read', 'read write', ''),
    );
    const form = fc.dictionary(
      fc.constantFrom(
        'grant_type',
        'subject_token',
        'subject_token_type',
        'resource',
        'scope',
        'requested_lifetime',
        'audience',
        'x',
      ),
      param,
    );
    await fc.assert(
      fc.asyncProperty(form, fc.boolean(), async (fields, realToken) => {
        const body = new URLSearchParams({ ...fields, ...(realToken ? { subject_token: reader } : {}) });
        const res = await call(`${api}/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: body.toString(),
        });
        expect(res.status).toBeLessThan(500);
        if (res.status === 200) {
          // Only the reader's own subtree can ever be granted, read only.
          expect(fields.resource).toBe(`orders/customers/${DEV_USER_OID}`);
          expect(res.json.scope).toBe('read');
        } else {
          expect(typeof res.json.error).toBe('string');
          expect(res.json.access_token).toBeUndefined();
        }
      }),
      RUNS,
    );
  });

  it('proxy path: never a 5xx, and nothing that is not a clean path inside the own subtree reaches the downstream', async () => {
    const segment = fc.oneof(
      fc.string({ maxLength: 6 }),
      fc.constantFrom(
        '..',
        '.',
        '%2e%2e',
        '%2E',
        '%2f',
        '%5c',
        '%00',
        '%25',
        '\\',
        '',
        'customers',
        DEV_USER_OID,
        'orders',
      ),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { maxLength: 5 }), async (segments) => {
        // What the gateway receives: fetch (as any WHATWG URL client) resolves `.` and `..`
        // segments before sending, so the oracle is the sent path, not the generated one.
        const url = new URL(`${api}/proxy/orders/${segments.join('/')}`);
        const prefix = new URL(`${api}/proxy/orders/`).pathname;
        const res = await fetch(url, { headers: { authorization: `Bearer ${reader}` } }).catch(
          () => undefined, // a URL fetch itself refuses is not the gateway's to answer
        );
        if (res === undefined) return;
        await res.arrayBuffer();
        expect(res.status).toBeLessThan(500);
        if (res.status === 200) {
          expect(url.pathname.startsWith(`${prefix}customers/${DEV_USER_OID}`)).toBe(true);
          expect(url.pathname).not.toMatch(/(^|\/)\.{1,2}(\/|$)|%2e|%2f|%5c|%00|%25|\\/i);
        }
      }),
      // Found by a full-suite run: a `..` after an allowed path is resolved by the client, and the
      // gateway rightly serves what it received.
      {
        ...RUNS,
        examples: [[['customers', DEV_USER_OID, 'orders', '..']], [['customers', DEV_USER_OID, '.']]],
      },
    );
  });
});
