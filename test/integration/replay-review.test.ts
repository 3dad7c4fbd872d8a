import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ReplayReport } from '../../src/analysis/replay';
import type { ReviewReport } from '../../src/analysis/review';
import { DEV_USER_OID } from '../../src/host/local/dev-identity-provider';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { runCaptured } from '../helpers/cli';
import { launchChromium } from '../helpers/chromium';
import { ACCESS_TOKEN, TOKEN_EXCHANGE, tokenForm } from '../helpers/gateway-stack';
import { authorize, call } from '../helpers/http';

/**
 * `gateway replay` and `gateway review` (contract §8) against a local stack that served real
 * traffic: decisions, proxied calls and a token exchange from real tokens, a policy change in the
 * middle, then the CLI over the audit trail. The counts below are the traffic's, worked out by
 * hand from the policies; the CLI must find exactly them.
 */
/** A loopback port nothing listens on (one just closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('gateway replay and review over real traffic', () => {
  let stack: LocalStack;
  let dir: string;
  let admin: string;
  const MFA_USER = '7a1d2c3b-4e5f-4a6b-8c7d-9e0f1a2b3c4d';

  beforeAll(async () => {
    stack = await startLocalStack({ env: {}, port: 0, logger: new MemoryLogger(), seedDemo: false });
    admin = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    dir = mkdtempSync(join(tmpdir(), 'gw-review-'));
  });

  afterAll(() => stack?.close());

  /** The CLI as given, with no --url or --token added. */
  const run = runCaptured;

  async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    await stack.gateway!.auditLog.flush();
    return run(...args, '--url', stack.gatewayUrl!, '--token', admin);
  }

  async function json<T>(...args: string[]): Promise<{ code: number; report: T }> {
    const { code, out, err } = await cli(...args, '--json');
    if (out === '') throw new Error(err);
    return { code, report: JSON.parse(out) as T };
  }

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  /** The policy file, with `readers` granting `readerActions` on `readerPaths`, and more policies. */
  const policies = (readerActions: string, readerPaths = "['/customers/**']", extra = '') => `
resources:
  - name: orders
    upstream: ${stack.orders.url}/api/orders
    auth: { type: functionKey, keySetting: ORDERS_KEY }
  - name: reports
    upstream: ${stack.orders.url}/api/orders
    auth: { type: none }
policies:
  - id: readers
    effect: allow
    resource: orders
    actions: [${readerActions}]
    paths: ${readerPaths}
    principals: { roles: [Orders.Reader] }
  - id: exports-with-mfa
    effect: allow
    resource: orders
    actions: [read]
    paths: ['/exports/**']
    principals: { roles: [Orders.Reader] }
    conditions: [{ claim: amr, operator: in, values: [mfa] }]
  - id: no-archive
    effect: deny
    resource: orders
    actions: ['*']
    paths: ['/customers/*/archive/**']
  - id: report-admins
    effect: allow
    resource: reports
    actions: ['*']
    principals: { roles: [Reports.Admin] }
${extra}`;

  it('says a window with no records holds nothing to replay or review, and writes nothing', async () => {
    const html = join(dir, 'empty.html');
    const reviewed = await cli('review', '--since', '1h', '--html', html);
    expect(reviewed.code).toBe(1);
    expect(reviewed.err).toMatch(
      /^gateway review: no audit records from \S+ to \S+: nothing to replay or review$/,
    );
    expect(existsSync(html)).toBe(false);
    const candidate = file('empty-candidate.yaml', policies('read'));
    expect((await cli('replay', '--policies', candidate, '--since', '1h')).code).toBe(1);
  });

  it('replays and reviews the traffic it served, across a policy change', async () => {
    expect((await cli('apply', '-f', file('v1.yaml', policies('read, write')))).code).toBe(0);
    const api = `${stack.gatewayUrl}/api`;
    const reader = stack.idp!.mintToken({ roles: ['Orders.Reader'], claims: { amr: ['pwd'] } });
    const mfaReader = stack.idp!.mintToken({
      roles: ['Orders.Reader'],
      oid: MFA_USER,
      claims: { amr: ['pwd', 'mfa'] },
    });
    const decide = async (token: string, action: string, path: string, allowed: boolean) => {
      const answer = await authorize(api, token, { resource: 'orders', action, path });
      expect([path, answer.json.allowed]).toEqual([path, allowed]);
    };

    // Before the change: 11 decisions the policies made, plus a what-if and the apply's writes.
    for (let i = 0; i < 3; i++) await decide(reader, 'read', '/customers/42/orders', true);
    await decide(reader, 'write', '/customers/42/orders', true);
    await decide(reader, 'read', '/customers/42/archive/2019', false);
    await decide(reader, 'read', '/exports/1', false);
    for (let i = 0; i < 2; i++) await decide(mfaReader, 'read', '/exports/1', true);
    for (let i = 0; i < 2; i++) {
      const proxied = await call(`${api}/proxy/orders/customers/43/orders`, {
        headers: { authorization: `Bearer ${reader}` },
      });
      expect(proxied.status).toBe(200);
    }
    const exchanged = await call(`${api}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: tokenForm({
        grant_type: TOKEN_EXCHANGE,
        subject_token: mfaReader,
        subject_token_type: ACCESS_TOKEN,
        resource: 'orders/exports/1',
        scope: 'read',
      }),
    });
    expect(exchanged.status).toBe(200);
    // A SAS call: decided by its grant, not replayable.
    const sas = exchanged.json.access_token as string;
    const sasAnswer = await call(`${api}/authorize`, {
      method: 'POST',
      headers: { authorization: `SharedAccessSignature ${sas}`, 'content-type': 'application/json' },
      body: JSON.stringify({ resource: 'orders', action: 'read', path: '/exports/1/2026' }),
    });
    expect(sasAnswer.json.allowed).toBe(true);
    const whatIf = await authorize(api, admin, {
      resource: 'orders',
      action: 'read',
      path: '/customers/1',
      principal: { roles: ['Orders.Reader'], oid: DEV_USER_OID },
    });
    expect(whatIf.json.allowed).toBe(true);

    // The change: readers may no longer write. Then two more decisions.
    expect((await cli('apply', '-f', file('v2.yaml', policies('read')))).code).toBe(0);
    await decide(reader, 'read', '/customers/43/orders', true);
    await decide(reader, 'write', '/customers/42/orders', false);

    // Replay under the set now in force: only the write allowed before the change flips.
    const now = await json<ReplayReport>('replay', '--policies', join(dir, 'v2.yaml'), '--since', '1h');
    expect(now.code).toBe(1);
    expect(now.report).toMatchObject({ unchanged: 12, allowToDeny: 1, denyToAllow: 0 });
    expect(now.report.notReplayable).toEqual({ total: 1, reasons: { 'sas-grant': 1 } });
    // The applies' writes (2 resources and 4 policies, then 1 update) are not policy decisions.
    expect(now.report.skipped).toEqual({ 'not-a-decision': 7, 'what-if': 1 });
    expect(now.report.examples.allowToDeny).toEqual([
      expect.objectContaining({
        operation: 'authorize',
        resource: 'orders',
        action: 'write',
        path: '/customers/42/orders',
        was: { decision: 'allow', policies: ['readers'] },
        now: { decision: 'deny', reasonCode: 'NO_MATCHING_POLICY', policies: [] },
      }),
    ]);

    // Under v1 the write after the change would have been allowed; under a narrower candidate the
    // proxied reads of customer 43 (and the read after the change) would have been denied.
    const v1 = await json<ReplayReport>('replay', '--policies', join(dir, 'v1.yaml'), '--since', '1h');
    expect(v1.report).toMatchObject({ unchanged: 12, allowToDeny: 0, denyToAllow: 1 });
    const narrow = file('narrow.yaml', policies('read', "['/customers/42/**']"));
    const narrowed = await json<ReplayReport>('replay', '--policies', narrow, '--since', '1h');
    expect(narrowed.report).toMatchObject({ unchanged: 9, allowToDeny: 4, denyToAllow: 0 });
    expect(narrowed.report.examples.allowToDeny.map((e) => [e.operation, e.action, e.path])).toEqual(
      expect.arrayContaining([
        ['proxy', 'read', '/customers/43/orders'],
        ['authorize', 'read', '/customers/43/orders'],
        ['authorize', 'write', '/customers/42/orders'],
      ]),
    );
    // For people: the counts and the examples.
    const people = await cli('replay', '--policies', narrow, '--since', '1h');
    expect(people.out).toContain('allow -> deny   4');
    expect(people.out).toMatch(
      /proxy read orders\/customers\/43\/orders by 0d5e1f3a-\S+: was allow \(readers\), now deny: NO_MATCHING_POLICY/,
    );

    // A candidate that reads a claim no policy read then cannot be replayed on orders: said, not guessed.
    const department = `  - id: sales-only
    effect: deny
    resource: orders
    actions: [write]
    conditions: [{ claim: department, operator: notIn, values: [sales] }]`;
    const unknown = file('department.yaml', policies('read', "['/customers/**']", department));
    const unreplayable = await json<ReplayReport>('replay', '--policies', unknown, '--since', '1h');
    expect(unreplayable.code).toBe(0);
    expect(unreplayable.report.notReplayable).toEqual({
      total: 14,
      reasons: { 'claims-not-recorded': 13, 'sas-grant': 1 },
    });
    expect(unreplayable.report.examples.notReplayable[0]?.why).toBe('claims-not-recorded: department');

    // The review: use per policy, what was never used, and a narrower set that passed its checks.
    const html = join(dir, 'review.html');
    const suggest = join(dir, 'suggested.yaml');
    const { report } = await json<ReviewReport>(
      'review',
      '--since',
      '1h',
      '--html',
      html,
      '--suggest',
      suggest,
    );
    const use = Object.fromEntries(report.policies.map((p) => [p.id, p.decisions]));
    // readers: 3 reads, 1 write, 2 proxied reads, 1 read after the change; exports-with-mfa: 2
    // reads, the exchange and the SAS call on its grant.
    expect(use).toEqual({ readers: 7, 'exports-with-mfa': 4, 'no-archive': 1, 'report-admins': 0 });
    expect(report.neverUsed).toEqual(['report-admins']);
    expect(report.unusedGrants).toEqual([
      { id: 'report-admins', actions: ['read', 'create', 'write', 'delete'], paths: ['/**'] },
    ]);
    expect(report.denyReasons).toEqual(
      expect.arrayContaining([{ reasonCode: 'NO_MATCHING_POLICY', count: 2 }]),
    );
    expect(report.callers.users.distinct).toBeGreaterThanOrEqual(2);
    expect(report.suggestion.withheld).toBeUndefined();
    expect(report.suggestion.checks).toMatchObject({ newAccess: 0, replay: { allowToDeny: 0 } });
    const changes = Object.fromEntries(report.suggestion.changes.map((c) => [c.id, c.change]));
    // exports-with-mfa granted a SAS token whose calls replay cannot decide: its use is not known
    // in full, so it is kept as it is.
    expect(changes).toEqual({
      readers: 'narrow',
      'exports-with-mfa': 'keep',
      'no-archive': 'keep',
      'report-admins': 'remove',
    });
    // Every read was one level below a customer, and no write is allowed now.
    expect(report.suggestion.changes.find((c) => c.id === 'readers')).toMatchObject({
      paths: { from: ['/customers/**'], to: ['/customers/*/orders'] },
    });

    // The suggested file is what `apply` takes; applying it grants nothing new, and a replay under
    // it denies only what the set in force already denies (the write allowed before the change).
    expect(readFileSync(suggest, 'utf8')).toContain(
      '# Not listed, as they allowed nothing in the window: report-admins',
    );
    const dry = await cli('apply', '-f', suggest, '--dry-run', '--no-new-access');
    expect([dry.code, dry.out.split('\n')[0]]).toEqual([0, 'no new access']);
    const suggested = await json<ReplayReport>('replay', '--policies', suggest, '--since', '1h');
    expect(suggested.report).toMatchObject({ unchanged: 12, allowToDeny: 1, denyToAllow: 0 });

    // The page: its charts drawn by a real browser, offline, with no console error.
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
      });
      page.on('pageerror', (e) => problems.push(String(e)));
      page.on('request', (r) => {
        if (!r.url().startsWith('file:')) requests.push(r.url());
      });
      await page.goto(`file://${html}`);
      // Run in the page (a string: the browser's DOM types are not this project's).
      const charts = await page.evaluate<
        { chart: string; width: number; height: number; bars: number }[]
      >(`[...document.querySelectorAll('figure[data-chart]')].map((f) => {
        const svg = f.querySelector('svg');
        const box = svg ? svg.getBoundingClientRect() : { width: 0, height: 0 };
        const bars = svg ? [...svg.querySelectorAll('rect')].filter((r) => r.getBoundingClientRect().width > 0) : [];
        return { chart: f.dataset.chart, width: box.width, height: box.height, bars: bars.length };
      })`);
      expect(charts.map((c) => c.chart)).toEqual([
        'timeline',
        'deny-reasons',
        'policy-use',
        'unused-grants',
        'replay',
      ]);
      for (const chart of charts) {
        expect(chart.width).toBeGreaterThan(100);
        expect(chart.height).toBeGreaterThan(10);
        expect(chart.bars).toBeGreaterThan(0);
      }
      expect(await page.textContent('body')).toContain('report-admins');
      expect(problems).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);

  it.each([
    [
      'a duration that is not one',
      ['--since', 'yesterday'],
      2,
      /--since: expected a duration such as 30m, 24h, 7d or 2w, not "yesterday"/,
    ],
    [
      'a window longer than the trail keeps',
      ['--since', '100d'],
      2,
      /--since: the gateway refused the window: .*AUDIT_RETENTION_DAYS: 90 days/,
    ],
    ['no --since', [], 2, /--since is required/],
  ])('review refuses %s, writing nothing', async (_case, args, code, message) => {
    const html = join(dir, `refused-${code}-${args.length}.html`);
    const answer = await cli('review', ...args, '--html', html);
    expect(answer.code).toBe(code);
    expect(answer.err).toMatch(message);
    expect(existsSync(html)).toBe(false);
  });

  it('replay refuses a candidate file that does not validate, naming the field', async () => {
    const bad = file(
      'bad.yaml',
      policies(
        'read',
        "['/customers/**']",
        '  - id: broken\n    effect: maybe\n    resource: orders\n    actions: [read]',
      ),
    );
    const answer = await cli('replay', '--policies', bad, '--since', '1h');
    expect(answer.code).toBe(2);
    expect(answer.err).toMatch(/bad\.yaml: policies\[4\] \(broken\) effect/);
  });

  it('says when the gateway cannot be reached, writing nothing', async () => {
    const html = join(dir, 'unreachable.html');
    const port = await closedPort();
    const answer = await run(
      'review',
      '--since',
      '1h',
      '--html',
      html,
      '--url',
      `http://127.0.0.1:${port}`,
      '--token',
      admin,
    );
    expect(answer.code).toBe(1);
    expect(answer.err).toBe(
      `gateway review: cannot reach the gateway at http://127.0.0.1:${port}/api (ECONNREFUSED): is it running, and is --url (or GATEWAY_URL) right?`,
    );
    expect(existsSync(html)).toBe(false);
  });
});
