/**
 * Two gateway instances on one Cosmos DB that freezes (`SIGSTOP` on its process) and resumes
 * under traffic, as a database that hangs does: no call waits past its deadline, no revoked token
 * is accepted past `POLICY_MAX_STALENESS_SECONDS`, health says what is wrong, and after a
 * graceful stop every audited request has its record in the database, found by correlation id.
 */
import { randomUUID } from 'node:crypto';
import { auditRecordsOf } from '../../src/audit/cosmos-audit-store';
import { call, jsonCall } from '../helpers/http';
import { issue, KEY_1, SasTestStack, type ServedGateway } from '../helpers/gateway-stack';

const REFRESH_SECONDS = 1;
const MAX_STALENESS_SECONDS = 3;
/** The store deadline (STORE_CALL_TIMEOUT_MS) and what an answer may take beyond it here. */
const STORE_DEADLINE_MS = 5_000;
const MARGIN_MS = 1_500;

const ENV = {
  SAS_SIGNING_KEYS: KEY_1,
  POLICY_REFRESH_SECONDS: String(REFRESH_SECONDS),
  POLICY_MAX_STALENESS_SECONDS: String(MAX_STALENESS_SECONDS),
};

async function until(condition: () => Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('Cosmos DB frozen and resumed under traffic, two instances', () => {
  let env: SasTestStack;
  let b: ServedGateway;
  const sent: { api: string; correlationId: string }[] = [];

  beforeAll(async () => {
    env = await SasTestStack.start(ENV, { isolateCosmos: true });
    b = await env.startGateway({ env: ENV });
  }, 60_000);

  afterAll(async () => {
    try {
      process.kill(env.stack.cosmos!.pid, 'SIGCONT');
    } catch {
      // already running or gone
    }
    await env?.close();
  });

  /** One audited decision on `api`, with a correlation id of the test's own. */
  async function decide(api: string, token: string, oid: string) {
    const correlationId = randomUUID();
    sent.push({ api, correlationId });
    const res = await call(`${api}/authorize`, {
      method: 'POST',
      headers: {
        authorization: `SharedAccessSignature ${token}`,
        'content-type': 'application/json',
        'x-correlation-id': correlationId,
      },
      body: JSON.stringify({ resource: 'orders', action: 'read', path: `/customers/${oid}/orders` }),
    });
    return { status: res.status, code: res.json.code as string | undefined, allowed: res.json.allowed };
  }

  it('answers every call within its deadline, stops accepting a revoked token within the bound, and loses no audit record', async () => {
    const cosmosPid = env.stack.cosmos!.pid;
    const oid = randomUUID();
    const bearer = env.mint({ oid, roles: ['Orders.Reader'] });
    const sas = await issue(env.api, {
      subject_token: bearer,
      resource: `orders/customers/${oid}`,
      scope: 'read',
    });
    const { sid } = Object.fromEntries(new URLSearchParams(sas)) as { sid: string };
    await b.gateway.state.refresher.refresh();
    for (let i = 0; i < 20; i++) {
      expect(await decide(i % 2 ? b.api : env.api, sas, oid)).toMatchObject({ status: 200, allowed: true });
    }

    // Revoked on A, acknowledged; then the database freezes before B's next refresh can see it.
    expect((await env.admin('POST', 'revocations', { sid })).status).toBe(201);
    const revokedAt = Date.now();
    process.kill(cosmosPid, 'SIGSTOP');
    try {
      // A knows at once; B may accept until its state is MAX_STALENESS_SECONDS old, never after.
      expect(await decide(env.api, sas, oid)).toMatchObject({ status: 401, code: 'ERR_SAS_REVOKED' });
      const boundMs = (MAX_STALENESS_SECONDS + REFRESH_SECONDS) * 1000 + MARGIN_MS;
      let lastAcceptedAfterMs = -1;
      while (Date.now() - revokedAt < boundMs + 1_000) {
        const answer = await decide(b.api, sas, oid);
        if (answer.status === 200) lastAcceptedAfterMs = Date.now() - revokedAt;
        else expect(answer).toMatchObject({ status: 503, code: 'ERR_POLICY_STORE_UNAVAILABLE' });
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(lastAcceptedAfterMs).toBeLessThan(boundMs);
      expect(await decide(b.api, sas, oid)).toMatchObject({
        status: 503,
        code: 'ERR_POLICY_STORE_UNAVAILABLE',
      });

      // Admin reads, writes and revocations answer within the store's deadline, never hang.
      const admin = env.adminToken();
      const calls = [
        () => call(`${env.api}/policies`, jsonCall('GET', admin)),
        () =>
          call(
            `${env.api}/policies/frozen-${oid}`,
            jsonCall('PUT', admin, { effect: 'deny', resource: 'orders', actions: ['delete'] }),
          ),
        () => call(`${env.api}/revocations`, jsonCall('POST', admin, { oid })),
        () => call(`${env.api}/audit?oid=${oid}`, jsonCall('GET', admin)),
      ];
      for (const made of calls) {
        const started = Date.now();
        const res = await made();
        expect(Date.now() - started).toBeLessThan(STORE_DEADLINE_MS + MARGIN_MS);
        expect(res.status).toBe(503);
        expect(['ERR_STORE_UNAVAILABLE', 'ERR_STORE_OUTCOME_UNKNOWN']).toContain(res.json.code);
      }

      // Health says so: the policies are down (stale) on B, and the refresh failure was logged.
      const health = await call(`${b.api}/health`);
      expect(health.status).toBe(503);
      expect(health.json.checks).toMatchObject({ policies: { status: 'down', maxStalenessSeconds: 3 } });
    } finally {
      process.kill(cosmosPid, 'SIGCONT');
    }

    // Resumed: B refreshes again (a pull cut off by the freeze fails at its deadline first), is
    // healthy, and refuses the token as revoked.
    await until(
      async () =>
        ((await call(`${b.api}/health`)).json.checks as { policies: { status: string } }).policies.status ===
        'ok',
      'B to refresh again',
      STORE_DEADLINE_MS + (REFRESH_SECONDS + 3) * 1000,
    );
    expect(await decide(b.api, sas, oid)).toMatchObject({ status: 401, code: 'ERR_SAS_REVOKED' });

    // A graceful stop of both writes every record; each audited request is found by correlation id.
    const gateways = [env.gateway, b.gateway];
    await Promise.all(gateways.map((g) => g.auditLog.flush()));
    await b.close();
    const stats = gateways.map((g) => g.auditLog.stats);
    const lost = stats.reduce((n, s) => n + s.dropped + s.discarded, 0);
    expect(lost).toBe(0);
    const { resources } = await env.stack
      .gateway!.auditStore.container.items.query<{ pk: string; columns: string[]; rows: unknown[][] }>(
        'SELECT c.pk, c.columns, c.rows FROM c',
      )
      .fetchAll();
    const stored = new Set(resources.flatMap((page) => auditRecordsOf(page).map((r) => r.correlationId)));
    const missing = sent.filter((s) => !stored.has(s.correlationId));
    expect(missing).toEqual([]);
  }, 90_000);
});

describe('a replaced, empty database', () => {
  let env: SasTestStack;

  beforeAll(async () => {
    env = await SasTestStack.start({ SAS_SIGNING_KEYS: KEY_1 });
  }, 60_000);

  afterAll(() => env?.close());

  const policy = (id: string) => ({ id, effect: 'deny', resource: 'orders', actions: ['delete'] });

  it('is not healthy until the gateway has its containers again, which the health probe creates', async () => {
    await env.gateway.auditStore.container.database.delete();
    // Containers were created at start only: a write into the missing container is refused.
    const refused = await env.admin('PUT', 'policies/after-replace', policy('after-replace'));
    expect(refused.status).toBe(503);
    expect(refused.json.code).toBe('ERR_STORE_UNAVAILABLE');
    const health = await call(`${env.api}/health`);
    expect(health.json.checks).toMatchObject({ cosmos: { status: 'ok' } });
    expect((await env.admin('PUT', 'policies/after-replace', policy('after-replace'))).status).toBe(201);
  });

  it('is prepared again by the refresh after one that met the missing container', async () => {
    await env.gateway.auditStore.container.database.delete();
    const refresher = env.gateway.state.refresher;
    await refresher.refresh(); // 404: the database is gone
    await refresher.refresh(); // creates the database and containers, then pulls
    expect(refresher.health().status).not.toBe('down');
    expect((await env.admin('PUT', 'policies/after-refresh', policy('after-refresh'))).status).toBe(201);
  });
});
