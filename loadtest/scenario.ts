/**
 * The load test's request mix: who calls, what they ask, and what the demo policies must answer.
 * Every case names its expected status and decision in {@link EXPECTATIONS}, a table a test can
 * override to prove the harness notices a wrong allow.
 */
import type { DevIdentityProvider } from '../src/host/local/dev-identity-provider';
import { SeededRandom } from './random';

/** The faults the schedule injects (see faults.ts). */
export type FaultKind = 'downstream-slow' | 'downstream-dead' | 'idp-down' | 'cosmos-down';

/** The routes the report groups by. */
export type Route = 'authorize' | 'token' | 'proxy-orders' | 'proxy-slow' | 'admin' | 'health';

/** The demo policies' blocked group (samples/demo-policies.yaml, `orders-deny-blocked-group`). */
export const BLOCKED_GROUP = '5b1e7c1a-0000-4000-8000-00000000b10c';
/** The load test's second resource: its downstream is the switchable one. */
export const SLOW_RESOURCE = 'loadtest-slow';
/** The resource the admin traffic churns policies for: no other case touches it. */
export const SCRATCH_RESOURCE = 'loadtest-scratch';
const SCRATCH_IDS = Array.from({ length: 16 }, (_, i) => `loadtest-scratch-${String(i).padStart(2, '0')}`);

/**
 * What a case must get. `outcome` is the decision policy must make: an observed allow where
 * `deny` is expected is a wrong allow, the one failure an authorization gateway may never have.
 */
export interface Expectation {
  /** Right answers outside fault windows. */
  readonly statuses: readonly number[];
  readonly outcome: 'allow' | 'deny' | 'none';
  /** The body's `code` (problem+json) or `error` (OAuth) with a 4xx, when it is fixed. */
  readonly code?: string;
}

/** An answer a fault may cause while it lasts (and a short grace after), with its code. */
export interface FaultAnswer {
  readonly status: number;
  readonly code: string;
}

export const CASE_NAMES = [
  'authorize.reader-own',
  'authorize.reader-other',
  'authorize.reader-delete-own',
  'authorize.blocked-own',
  'authorize.norole-own',
  'authorize.writer-create',
  'authorize.sas-in-scope',
  'authorize.sas-out-of-scope',
  'token.reader-own-read',
  'token.reader-other-read',
  'token.reader-own-delete',
  'token.blocked-own-read',
  'token.norole-own-read',
  'token.unknown-resource',
  'proxy.bearer-own',
  'proxy.bearer-other',
  'proxy.bearer-blocked',
  'proxy.bearer-norole',
  'proxy.sas-own',
  'proxy.sas-other',
  'proxy.slow-reader',
  'proxy.slow-norole',
  'admin.put',
  'admin.delete',
  'admin.get',
  'admin.list',
  'admin.non-admin-put',
  'change.deny',
  'change.revoke',
  'authorize.changed',
  'proxy.sas-revoked',
  'health',
] as const;
export type CaseName = (typeof CASE_NAMES)[number];

const allow = (status = 200): Expectation => ({ statuses: [status], outcome: 'allow' });
const deny = (status: number, code?: string): Expectation => ({
  statuses: [status],
  outcome: 'deny',
  ...(code === undefined ? {} : { code }),
});
/** `/api/authorize` answers 200 for every authenticated caller; `allowed` carries the decision. */
const decision = (allowed: boolean): Expectation => ({
  statuses: [200],
  outcome: allowed ? 'allow' : 'deny',
});

/**
 * The expectation table. Admin cases depend on what earlier admin calls did, so their statuses
 * here are the set of possible ones; the scenario narrows them per request from its model.
 */
export const EXPECTATIONS: Readonly<Record<CaseName, Expectation>> = {
  'authorize.reader-own': decision(true),
  'authorize.reader-other': decision(false),
  'authorize.reader-delete-own': decision(false),
  'authorize.blocked-own': decision(false),
  'authorize.norole-own': decision(false),
  'authorize.writer-create': decision(true),
  'authorize.sas-in-scope': decision(true),
  'authorize.sas-out-of-scope': decision(false),
  'token.reader-own-read': allow(),
  'token.reader-other-read': deny(400, 'invalid_scope'),
  'token.reader-own-delete': deny(400, 'invalid_scope'),
  'token.blocked-own-read': deny(400, 'invalid_scope'),
  'token.norole-own-read': deny(400, 'invalid_scope'),
  'token.unknown-resource': deny(400, 'invalid_target'),
  'proxy.bearer-own': allow(),
  'proxy.bearer-other': deny(403, 'ERR_POLICY_DENIED'),
  'proxy.bearer-blocked': deny(403, 'ERR_POLICY_DENIED'),
  'proxy.bearer-norole': deny(403, 'ERR_POLICY_DENIED'),
  'proxy.sas-own': allow(),
  'proxy.sas-other': deny(403, 'ERR_SAS_SCOPE'),
  'proxy.slow-reader': allow(),
  'proxy.slow-norole': deny(403, 'ERR_POLICY_DENIED'),
  'admin.put': { statuses: [200, 201], outcome: 'allow' },
  'admin.delete': { statuses: [204, 404], outcome: 'none' },
  'admin.get': { statuses: [200, 404], outcome: 'none' },
  'admin.list': allow(),
  'admin.non-admin-put': deny(403, 'ERR_ADMIN_ROLE_REQUIRED'),
  // The change cases' statuses and the changed callers' decisions follow from the change model.
  'change.deny': { statuses: [200, 201, 204, 404], outcome: 'none' },
  'change.revoke': { statuses: [201], outcome: 'none' },
  'authorize.changed': { statuses: [200], outcome: 'none' },
  'proxy.sas-revoked': deny(401, 'ERR_SAS_REVOKED'),
  health: { statuses: [200], outcome: 'none' },
};

const STORE_DOWN: FaultAnswer = { status: 503, code: 'ERR_STORE_UNAVAILABLE' };

/** Which answers each fault may cause, per case. Anything else during a fault is still a failure. */
export const FAULT_ANSWERS: Readonly<Partial<Record<CaseName, Partial<Record<FaultKind, FaultAnswer>>>>> = {
  'proxy.slow-reader': {
    'downstream-slow': { status: 504, code: 'ERR_UPSTREAM_TIMEOUT' },
    'downstream-dead': { status: 502, code: 'ERR_UPSTREAM_UNREACHABLE' },
  },
  'admin.put': { 'cosmos-down': STORE_DOWN },
  'admin.delete': { 'cosmos-down': STORE_DOWN },
  'admin.get': { 'cosmos-down': STORE_DOWN },
  'admin.list': { 'cosmos-down': STORE_DOWN },
  'change.deny': { 'cosmos-down': STORE_DOWN },
  'change.revoke': { 'cosmos-down': STORE_DOWN },
  // Cosmos DB down makes the gateway unhealthy (it says so); decisions keep working until the
  // state is too old (faultAnswersOf).
  health: { 'cosmos-down': { status: 503, code: '' } },
};

/**
 * Every decision (authorize, token, proxy) while Cosmos DB is down: answered from the last good
 * state until it is `POLICY_MAX_STALENESS_SECONDS` old, then refused, failing closed.
 */
const STALE: FaultAnswer = { status: 503, code: 'ERR_POLICY_STORE_UNAVAILABLE' };

/** The fault answers of a case: its own, and failing closed on stale state for every decision. */
export function faultAnswersOf(caseName: CaseName): Partial<Record<FaultKind, FaultAnswer>> {
  const decides = /^(authorize|token|proxy)\./.test(caseName);
  return { ...(decides ? { 'cosmos-down': STALE } : {}), ...FAULT_ANSWERS[caseName] };
}

/** Relative weights of the default mix (per hundred, roughly). */
export const DEFAULT_WEIGHTS: Readonly<Record<CaseName, number>> = {
  'authorize.reader-own': 10,
  'authorize.reader-other': 5,
  'authorize.reader-delete-own': 2,
  'authorize.blocked-own': 3,
  'authorize.norole-own': 3,
  'authorize.writer-create': 2,
  'authorize.sas-in-scope': 3,
  'authorize.sas-out-of-scope': 2,
  'token.reader-own-read': 5,
  'token.reader-other-read': 2,
  'token.reader-own-delete': 1,
  'token.blocked-own-read': 2,
  'token.norole-own-read': 1,
  'token.unknown-resource': 1,
  'proxy.bearer-own': 8,
  'proxy.bearer-other': 3,
  'proxy.bearer-blocked': 2,
  'proxy.bearer-norole': 2,
  'proxy.sas-own': 8,
  'proxy.sas-other': 3,
  'proxy.slow-reader': 4,
  'proxy.slow-norole': 1,
  'admin.put': 2,
  'admin.delete': 1,
  'admin.get': 2,
  'admin.list': 1,
  'admin.non-admin-put': 1,
  'change.deny': 1,
  'change.revoke': 1,
  'authorize.changed': 4,
  'proxy.sas-revoked': 2,
  health: 1,
};

/**
 * Cases that hold a connection for long during a fault (a slow downstream answers after the
 * resource timeout): capped in flight, so a fault window measures the fault, not starvation.
 */
const MAX_IN_FLIGHT: Partial<Record<CaseName, number>> = { 'proxy.slow-reader': 4 };

/** One request to send and what it must get. */
export interface PlannedRequest {
  readonly caseName: CaseName;
  readonly route: Route;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** Below the gateway's origin, e.g. `/api/authorize`. */
  readonly path: string;
  /** Which gateway instance it goes to (an index into the run's instances). */
  readonly instance: number;
  readonly headers: Record<string, string>;
  readonly body?: string;
  readonly expect: Expectation;
  readonly faultAnswers: Partial<Record<FaultKind, FaultAnswer>>;
  /** Called with the answer, whatever it was (the scenario keeps its models in step). */
  readonly settle: (status: number, json: Record<string, unknown> | undefined) => void;
}

interface Caller {
  readonly oid: string;
  readonly roles: string[];
  readonly groups: string[];
  token: string;
  mintedAt: number;
}

type ScratchState = 'present' | 'absent' | 'unknown';

/**
 * A caller whose access the run changes while it runs (a deny policy on them, put and deleted on
 * any instance). `denied` is what the last acknowledged change made it; `since`, when its answer
 * came back. Every instance must decide by it once `changeBoundMs` have passed since then.
 */
interface Changeling {
  readonly caller: Caller;
  readonly policyId: string;
  denied: boolean | 'unknown';
  since: number;
  busy: boolean;
}

/** A SAS token revoked on some instance, and when that revocation was acknowledged. */
interface Revoked {
  readonly token: string;
  readonly owner: Caller;
  readonly since: number;
}

const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
/** Entra tokens are minted for an hour and re-minted after half of it (long soaks). */
const TOKEN_LIFETIME_S = 3600;
/** SAS tokens live 300 s by default: one older than this is not used (exchanges refresh them). */
const SAS_MAX_AGE_MS = 200_000;

export interface ScenarioOptions {
  readonly seed: number;
  readonly idp: DevIdentityProvider;
  readonly adminRole: string;
  readonly weights?: Partial<Record<CaseName, number>>;
  /** Overrides of the expectation table (tests prove a wrong table is caught). */
  readonly expectations?: Partial<Record<CaseName, Expectation>>;
  readonly now?: () => number;
  /** Gateway instances the requests are spread over (all on one Cosmos DB); default 1. */
  readonly instances?: number;
  /**
   * How long after a change was acknowledged by the instance that made it every other instance
   * must honour it (`POLICY_REFRESH_SECONDS` plus a margin for the pull itself). A request sent
   * later than that and still let through is a wrong allow.
   */
  readonly changeBoundMs?: number;
}

/**
 * Builds the next request of the mix. Deterministic for a seed up to the order answers come
 * back in (which decides the admin model and SAS pool).
 */
export class Scenario {
  private readonly rng: SeededRandom;
  private readonly readers: Caller[];
  private readonly blocked: Caller;
  private readonly writer: Caller;
  private readonly norole: Caller;
  private readonly admin: Caller;
  /** The last SAS token each reader obtained, scoped to `orders/customers/<oid>`, read. */
  private readonly sas = new Map<Caller, { token: string; at: number }>();
  private readonly scratch = new Map<string, ScratchState>(SCRATCH_IDS.map((id) => [id, 'absent']));
  private readonly busy = new Set<string>();
  private readonly inFlight = new Map<CaseName, number>();
  private readonly table: readonly { name: CaseName; upTo: number }[];
  private readonly expectations: Record<CaseName, Expectation>;
  private readonly now: () => number;
  private scratchSerial = 0;
  private readonly changelings: Changeling[];
  private revoked: Revoked[] = [];
  private readonly instances: number;
  private readonly changeBoundMs: number;

  constructor(private readonly options: ScenarioOptions) {
    this.rng = new SeededRandom(options.seed);
    this.now = options.now ?? Date.now;
    const caller = (roles: string[], groups: string[] = []): Caller => {
      const oid = this.rng.uuid();
      return { oid, roles, groups, token: '', mintedAt: 0 };
    };
    this.readers = Array.from({ length: 6 }, () => caller(['Orders.Reader']));
    this.blocked = caller(['Orders.Reader'], [BLOCKED_GROUP]);
    this.writer = caller(['Orders.Writer']);
    this.norole = caller([]);
    this.admin = caller([options.adminRole]);
    this.changelings = Array.from({ length: 4 }, (_, i) => ({
      caller: caller(['Orders.Reader']),
      policyId: `loadtest-deny-${i}`,
      denied: false,
      since: 0,
      busy: false,
    }));
    this.instances = options.instances ?? 1;
    this.changeBoundMs = options.changeBoundMs ?? 15_000;
    this.expectations = { ...EXPECTATIONS, ...options.expectations };
    const weights = { ...DEFAULT_WEIGHTS, ...options.weights };
    let total = 0;
    this.table = CASE_NAMES.filter((name) => weights[name] > 0).map((name) => {
      total += weights[name];
      return { name, upTo: total };
    });
    this.totalWeight = total;
  }

  private readonly totalWeight: number;

  /** Requests the harness sends before the mix: one SAS token per reader. */
  setupRequests(): PlannedRequest[] {
    return this.readers.map((reader) => this.exchange('token.reader-own-read', reader, reader.oid, 'read'));
  }

  /** The next request of the mix. */
  next(): PlannedRequest {
    for (;;) {
      const roll = this.rng.next() * this.totalWeight;
      const name = (this.table.find((entry) => roll < entry.upTo) ?? this.table[0]!).name;
      const cap = MAX_IN_FLIGHT[name];
      if (cap !== undefined && (this.inFlight.get(name) ?? 0) >= cap) continue;
      const planned = this.build(name);
      if (planned !== undefined) return this.track(planned);
    }
  }

  /** Counts the request in flight until it settles. */
  private track(planned: PlannedRequest): PlannedRequest {
    const name = planned.caseName;
    this.inFlight.set(name, (this.inFlight.get(name) ?? 0) + 1);
    return {
      ...planned,
      settle: (status, json) => {
        this.inFlight.set(name, (this.inFlight.get(name) ?? 1) - 1);
        planned.settle(status, json);
      },
    };
  }

  private build(name: CaseName): PlannedRequest | undefined {
    const reader = this.rng.pick(this.readers);
    const other = this.otherReader(reader);
    switch (name) {
      case 'authorize.reader-own':
        return this.authorize(name, this.bearer(reader), 'read', ordersPath(reader.oid));
      case 'authorize.reader-other':
        return this.authorize(name, this.bearer(reader), 'read', ordersPath(other.oid));
      case 'authorize.reader-delete-own':
        return this.authorize(name, this.bearer(reader), 'delete', ordersPath(reader.oid));
      case 'authorize.blocked-own':
        return this.authorize(name, this.bearer(this.blocked), 'read', ordersPath(this.blocked.oid));
      case 'authorize.norole-own':
        return this.authorize(name, this.bearer(this.norole), 'read', ordersPath(this.norole.oid));
      case 'authorize.writer-create':
        return this.authorize(name, this.bearer(this.writer), 'create', `${ordersPath(other.oid)}/7`);
      case 'authorize.sas-in-scope':
      case 'authorize.sas-out-of-scope': {
        const sas = this.sasOf(reader);
        if (sas === undefined) return this.exchange('token.reader-own-read', reader, reader.oid, 'read');
        const owner = name === 'authorize.sas-in-scope' ? reader : other;
        return this.authorize(name, `SharedAccessSignature ${sas}`, 'read', ordersPath(owner.oid));
      }
      case 'token.reader-own-read':
        return this.exchange(name, reader, reader.oid, 'read');
      case 'token.reader-other-read':
        return this.exchange(name, reader, other.oid, 'read');
      case 'token.reader-own-delete':
        return this.exchange(name, reader, reader.oid, 'delete');
      case 'token.blocked-own-read':
        return this.exchange(name, this.blocked, this.blocked.oid, 'read');
      case 'token.norole-own-read':
        return this.exchange(name, this.norole, this.norole.oid, 'read');
      case 'token.unknown-resource':
        return this.exchange(name, reader, reader.oid, 'read', 'no-such-resource');
      case 'proxy.bearer-own':
        return this.proxy(name, 'proxy-orders', this.bearer(reader), `orders${ordersPath(reader.oid)}`);
      case 'proxy.bearer-other':
        return this.proxy(name, 'proxy-orders', this.bearer(reader), `orders${ordersPath(other.oid)}`);
      case 'proxy.bearer-blocked':
        return this.proxy(
          name,
          'proxy-orders',
          this.bearer(this.blocked),
          `orders${ordersPath(this.blocked.oid)}`,
        );
      case 'proxy.bearer-norole':
        return this.proxy(
          name,
          'proxy-orders',
          this.bearer(this.norole),
          `orders${ordersPath(this.norole.oid)}`,
        );
      case 'proxy.sas-own':
      case 'proxy.sas-other': {
        const sas = this.sasOf(reader);
        if (sas === undefined) return this.exchange('token.reader-own-read', reader, reader.oid, 'read');
        const owner = name === 'proxy.sas-own' ? reader : other;
        return this.proxy(
          name,
          'proxy-orders',
          `SharedAccessSignature ${sas}`,
          `orders${ordersPath(owner.oid)}`,
        );
      }
      case 'proxy.slow-reader':
        return this.proxy(
          name,
          'proxy-slow',
          this.bearer(reader),
          `${SLOW_RESOURCE}/items/${this.rng.int(100)}`,
        );
      case 'proxy.slow-norole':
        return this.proxy(name, 'proxy-slow', this.bearer(this.norole), `${SLOW_RESOURCE}/items/1`);
      case 'admin.put':
      case 'admin.delete':
      case 'admin.get':
        return this.scratchCall(name);
      case 'admin.list':
        return this.plan(name, 'admin', 'GET', '/api/policies', this.bearer(this.admin));
      case 'admin.non-admin-put': {
        const id = this.rng.pick(SCRATCH_IDS);
        return this.plan(
          name,
          'admin',
          'PUT',
          `/api/policies/${id}`,
          this.bearer(reader),
          scratchPolicy(id, 0),
        );
      }
      case 'change.deny':
        return this.changeDeny();
      case 'authorize.changed':
        return this.authorizeChanged();
      case 'change.revoke':
        return this.revoke(reader);
      case 'proxy.sas-revoked':
        return this.useRevoked();
      case 'health':
        return this.plan(name, 'health', 'GET', '/api/health', undefined);
    }
  }

  /** Whether a change acknowledged at `since` must be honoured by every instance now. */
  private settled(since: number): boolean {
    return this.now() - since > this.changeBoundMs;
  }

  /** Puts or deletes the deny policy of one changeling, on some instance. */
  private changeDeny(): PlannedRequest | undefined {
    const free = this.changelings.filter((c) => !c.busy);
    if (free.length === 0) return undefined;
    const target = this.rng.pick(free);
    target.busy = true;
    const deny = target.denied !== true;
    const settle = (status: number) => {
      target.busy = false;
      target.since = this.now();
      if (deny) target.denied = status === 200 || status === 201 ? true : 'unknown';
      else target.denied = status === 204 || status === 404 ? false : 'unknown';
    };
    const body = deny
      ? {
          id: target.policyId,
          effect: 'deny',
          resource: 'orders',
          actions: ['read'],
          principals: { users: [target.caller.oid] },
          description: 'load test: a change every instance must learn',
        }
      : undefined;
    return this.plan(
      'change.deny',
      'admin',
      deny ? 'PUT' : 'DELETE',
      `/api/policies/${target.policyId}`,
      this.bearer(this.admin),
      body,
      settle,
      this.options.expectations?.['change.deny'] ?? {
        statuses: deny ? [200, 201] : [204, 404],
        outcome: 'none',
      },
    );
  }

  /** A changeling asks for its own orders: the answer is known once its last change settled. */
  private authorizeChanged(): PlannedRequest {
    const target = this.rng.pick(this.changelings);
    const known = !target.busy && target.denied !== 'unknown' && this.settled(target.since);
    const expect: Expectation =
      this.options.expectations?.['authorize.changed'] ??
      (known ? decision(target.denied === false) : { statuses: [200], outcome: 'none' });
    return this.plan(
      'authorize.changed',
      'authorize',
      'POST',
      '/api/authorize',
      this.bearer(target.caller),
      { resource: 'orders', action: 'read', path: ordersPath(target.caller.oid) },
      undefined,
      expect,
    );
  }

  /** Revokes a reader's current SAS token on some instance; no other case uses it from now on. */
  private revoke(reader: Caller): PlannedRequest | undefined {
    const token = this.sasOf(reader);
    if (token === undefined) return undefined;
    this.sas.delete(reader);
    const sid = new URLSearchParams(token).get('sid')!;
    return this.plan(
      'change.revoke',
      'admin',
      'POST',
      '/api/revocations',
      this.bearer(this.admin),
      { sid },
      (status) => {
        if (status === 201) this.revoked.push({ token, owner: reader, since: this.now() });
      },
    );
  }

  /** Uses a revoked token: refused by every instance once the revocation settled. */
  private useRevoked(): PlannedRequest | undefined {
    // Past SAS_MAX_AGE_MS a token may also have expired (another code): no longer used.
    this.revoked = this.revoked.filter((r) => this.now() - r.since < SAS_MAX_AGE_MS / 2);
    if (this.revoked.length === 0) return undefined;
    const { token, owner, since } = this.rng.pick(this.revoked);
    const expect: Expectation =
      this.options.expectations?.['proxy.sas-revoked'] ??
      (this.settled(since)
        ? this.expectations['proxy.sas-revoked']
        : { statuses: [200, 401], outcome: 'none' });
    return this.plan(
      'proxy.sas-revoked',
      'proxy-orders',
      'GET',
      `/api/proxy/orders${ordersPath(owner.oid)}`,
      `SharedAccessSignature ${token}`,
      undefined,
      undefined,
      expect,
    );
  }

  private otherReader(reader: Caller): Caller {
    const index = this.readers.indexOf(reader);
    return this.readers[(index + 1 + this.rng.int(this.readers.length - 1)) % this.readers.length]!;
  }

  /** `Bearer <token>`, re-minted when half its life is gone (minting signs locally: no IdP call). */
  private bearer(caller: Caller): string {
    const now = this.now();
    if (caller.token === '' || now - caller.mintedAt > (TOKEN_LIFETIME_S * 1000) / 2) {
      caller.token = this.options.idp.mintToken({
        oid: caller.oid,
        roles: caller.roles,
        groups: caller.groups,
        lifetimeSeconds: TOKEN_LIFETIME_S,
      });
      caller.mintedAt = now;
    }
    return `Bearer ${caller.token}`;
  }

  private sasOf(reader: Caller): string | undefined {
    const entry = this.sas.get(reader);
    return entry !== undefined && this.now() - entry.at < SAS_MAX_AGE_MS ? entry.token : undefined;
  }

  private plan(
    caseName: CaseName,
    route: Route,
    method: PlannedRequest['method'],
    path: string,
    authorization: string | undefined,
    json?: unknown,
    settle: PlannedRequest['settle'] = () => undefined,
    expect: Expectation = this.expectations[caseName],
  ): PlannedRequest {
    return {
      caseName,
      route,
      method,
      path,
      instance: this.rng.int(this.instances),
      headers: {
        ...(authorization === undefined ? {} : { authorization }),
        ...(json === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(json === undefined ? {} : { body: JSON.stringify(json) }),
      expect,
      faultAnswers: faultAnswersOf(caseName),
      settle,
    };
  }

  private authorize(name: CaseName, authorization: string, action: string, path: string): PlannedRequest {
    return this.plan(name, 'authorize', 'POST', '/api/authorize', authorization, {
      resource: 'orders',
      action,
      path,
    });
  }

  private proxy(name: CaseName, route: Route, authorization: string, below: string): PlannedRequest {
    return this.plan(name, route, 'GET', `/api/proxy/${below}`, authorization);
  }

  /** RFC 8693 token exchange in the form mode. */
  private exchange(
    name: CaseName,
    caller: Caller,
    ownerOid: string,
    scope: string,
    resource = 'orders',
  ): PlannedRequest {
    const subject = this.bearer(caller).slice('Bearer '.length);
    const form = new URLSearchParams({
      grant_type: TOKEN_EXCHANGE,
      subject_token_type: ACCESS_TOKEN,
      subject_token: subject,
      resource: `${resource}/customers/${ownerOid}`,
      scope,
    }).toString();
    return {
      caseName: name,
      route: 'token',
      method: 'POST',
      path: '/api/token',
      instance: this.rng.int(this.instances),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
      expect: this.expectations[name],
      faultAnswers: faultAnswersOf(name),
      settle: (status, json) => {
        const token = json?.access_token;
        if (name === 'token.reader-own-read' && status === 200 && typeof token === 'string') {
          this.sas.set(caller, { token, at: this.now() });
        }
      },
    };
  }

  /**
   * Create, replace, read or delete one throwaway policy of the scratch resource. The expected
   * status follows from the model of what is stored; no two calls on one id are in flight at once.
   */
  private scratchCall(name: 'admin.put' | 'admin.delete' | 'admin.get'): PlannedRequest | undefined {
    const free = SCRATCH_IDS.filter((id) => !this.busy.has(id));
    if (free.length === 0) return undefined;
    const id = this.rng.pick(free);
    const state = this.scratch.get(id) ?? 'unknown';
    const table = this.expectations[name];
    const [ifPresent, ifAbsent] =
      name === 'admin.put' ? [200, 201] : name === 'admin.delete' ? [204, 404] : [200, 404];
    const statuses =
      state === 'present' ? [ifPresent] : state === 'absent' ? [ifAbsent] : [ifPresent, ifAbsent];
    // A test's override of the table wins over the model.
    const expect: Expectation = this.options.expectations?.[name] ?? { ...table, statuses };
    this.busy.add(id);
    const settle = (status: number) => {
      this.busy.delete(id);
      if (status === ifPresent && name !== 'admin.delete') this.scratch.set(id, 'present');
      else if (status === 201) this.scratch.set(id, 'present');
      else if (status === 204 || status === 404) this.scratch.set(id, 'absent');
      // A failed write (503 while Cosmos DB is down) may or may not have landed.
      else if (name !== 'admin.get') this.scratch.set(id, 'unknown');
    };
    const method = name === 'admin.put' ? 'PUT' : name === 'admin.delete' ? 'DELETE' : 'GET';
    const body = name === 'admin.put' ? scratchPolicy(id, ++this.scratchSerial) : undefined;
    return this.plan(
      name,
      'admin',
      method,
      `/api/policies/${id}`,
      this.bearer(this.admin),
      body,
      settle,
      expect,
    );
  }
}

function ordersPath(oid: string): string {
  return `/customers/${oid}/orders`;
}

/** A throwaway policy: only ever about the scratch resource, so it cannot change another decision. */
function scratchPolicy(id: string, serial: number): Record<string, unknown> {
  return {
    id,
    effect: serial % 3 === 0 ? 'deny' : 'allow',
    resource: SCRATCH_RESOURCE,
    paths: [`/area-${serial % 7}/**`],
    actions: ['read'],
    principals: { roles: [`Scratch.Role${serial % 5}`] },
    description: `load test churn #${serial}`,
  };
}
