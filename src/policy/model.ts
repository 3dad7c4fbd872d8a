/**
 * The Policy and Resource documents (docs/reference.md §5): zod schemas, their types, and
 * `parsePolicy` / `parseResource`, which return the typed document or the field at fault.
 *
 * Every object is strict: an unknown field is refused, because a misspelt `principals` or
 * `conditions` silently ignored would turn a narrow policy into a broad one.
 *
 * Condition shapes, one per operator (a discriminated union on `operator`):
 *
 * ```json
 * { "claim": "ctry", "operator": "equals", "value": "NL" }
 * { "claim": "ctry", "operator": "in",     "values": ["NL", "DE"] }
 * { "claim": "ctry", "operator": "notIn",  "values": ["RU"] }
 * { "claim": "ctry", "operator": "exists" }
 * ```
 *
 * `value` / `values` are strings, finite numbers or booleans, compared strictly (`1` is not `"1"`).
 * The evaluator documents how each operator treats a missing or array-valued claim.
 */
import { z } from 'zod';
import { hostMatchesAllowList, parseTrustedUrl } from '../config/url-rules';
import { ACTIONS } from './actions';
import { globProblem, untrustedClaimProblem } from './path-glob';
import { UNTRUSTED_IDENTITY_CLAIMS } from './subject';
import { describeIssue } from '../http/validation';

/** Defaults and limits of the documents, in one visible place. */
export const POLICY_LIMITS = {
  /** `paths` when a policy omits it: the whole resource. */
  defaultPaths: ['/**'] as readonly string[],
  maxPaths: 32,
  maxListEntries: 256,
  maxConditions: 16,
  maxDescriptionLength: 1024,
  /** `timeoutMs` when a resource omits it. */
  defaultTimeoutMs: 30_000,
  maxTimeoutMs: 300_000,
} as const;

/** Policy ids: 1 to 128 of `A-Z a-z 0-9 . _ : -`. */
export const POLICY_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
/** Resource names: lower-case, digits and `-`, starting with a letter or digit, at most 63. */
export const RESOURCE_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Claim names in conditions and `{claims.X}`: printable, no spaces. */
const CLAIM_NAME_PATTERN = /^[\x21-\x7e]{1,256}$/;
/** App setting names a `functionKey` resource may read its key from. */
const APP_SETTING_PATTERN = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

const nonEmptyText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .refine((s) => s.trim() === s, 'must not start or end with whitespace');

const principalList = z.array(nonEmptyText(256)).min(1).max(POLICY_LIMITS.maxListEntries);

/** Who a policy applies to: every list present must match (AND), any entry of a list (OR). */
export const principalsSchema = z.strictObject({
  roles: principalList.optional(),
  scopes: principalList.optional(),
  groups: principalList.optional(),
  tenants: principalList.optional(),
  clients: principalList.optional(),
  users: principalList.optional(),
});

const claimName = z
  .string()
  .regex(CLAIM_NAME_PATTERN, 'must be 1 to 256 printable characters without spaces')
  .superRefine((claim, ctx) => {
    if (UNTRUSTED_IDENTITY_CLAIMS.includes(claim))
      ctx.addIssue({ code: 'custom', message: untrustedClaimProblem(claim) });
  });
const scalar = z.union([z.string().max(1024), z.number().finite(), z.boolean()]);
const scalarList = z.array(scalar).min(1).max(POLICY_LIMITS.maxListEntries);

/** A claim test; the shape depends on `operator`. */
export const conditionSchema = z.discriminatedUnion('operator', [
  z.strictObject({ claim: claimName, operator: z.literal('equals'), value: scalar }),
  z.strictObject({ claim: claimName, operator: z.literal('in'), values: scalarList }),
  z.strictObject({ claim: claimName, operator: z.literal('notIn'), values: scalarList }),
  z.strictObject({ claim: claimName, operator: z.literal('exists') }),
]);

/**
 * A Conditional Access authentication context id, `c1` to `c99` (docs/step-up.md): what a
 * token's `acrs` claim lists once the user has met the tenant's policy for it.
 */
export const AUTH_CONTEXT_PATTERN = /^c([1-9]|[1-9][0-9])$/;
const authContext = z.string().regex(AUTH_CONTEXT_PATTERN, 'must be an authentication context id, c1 to c99');

/** The claim a token lists its satisfied authentication contexts in. */
export const AUTH_CONTEXT_CLAIM = 'acrs';

const pathGlob = z.string().superRefine((value, ctx) => {
  const problem = globProblem(value);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** A policy document. Parse with {@link parsePolicy}. */
export const policySchema = z
  .strictObject({
    id: z.string().regex(POLICY_ID_PATTERN, 'must be 1 to 128 of A-Z a-z 0-9 . _ : -'),
    effect: z.enum(['allow', 'deny']),
    resource: z.union([
      z.literal('*'),
      z.string().regex(RESOURCE_NAME_PATTERN, 'must be a resource name ([a-z0-9][a-z0-9-]{0,62}) or "*"'),
    ]),
    paths: z
      .array(pathGlob)
      .min(1)
      .max(POLICY_LIMITS.maxPaths)
      .default(() => [...POLICY_LIMITS.defaultPaths]),
    actions: z
      .array(z.enum([...ACTIONS, '*']))
      .min(1)
      .max(ACTIONS.length + 1),
    principals: principalsSchema.optional(),
    conditions: z.array(conditionSchema).max(POLICY_LIMITS.maxConditions).optional(),
    maxTokenLifetimeSeconds: z.number().int().positive().max(2_147_483_647).optional(),
    /**
     * An allow that grants only DPoP-bound tokens (RFC 9449): it matches a token request that
     * brings a DPoP proof, and never an Entra Bearer call or a request without a proof. Allow only:
     * a deny must not depend on how the caller presents its credential.
     */
    requireDpop: z.boolean().optional(),
    /**
     * An allow that grants only callers whose token lists this authentication context in `acrs`
     * (docs/step-up.md): a caller it would grant but for the context is asked to step up. Allow
     * only: a deny must hold whatever the caller did to sign in.
     */
    authContext: authContext.optional(),
    enabled: z.boolean().default(true),
    description: z.string().max(POLICY_LIMITS.maxDescriptionLength).optional(),
  })
  .refine((policy) => policy.requireDpop !== true || policy.effect === 'allow', {
    path: ['requireDpop'],
    message: 'only an allow policy can require DPoP',
  })
  .refine((policy) => policy.authContext === undefined || policy.effect === 'allow', {
    path: ['authContext'],
    message: 'only an allow policy can require an authentication context',
  })
  .refine(
    (policy) =>
      policy.authContext === undefined ||
      !(policy.conditions ?? []).some(
        (c) =>
          c.claim === AUTH_CONTEXT_CLAIM &&
          (c.operator === 'notIn'
            ? c.values.includes(policy.authContext!)
            : c.operator === 'equals'
              ? typeof c.value !== 'string'
              : c.operator === 'in'
                ? c.values.every((v) => typeof v !== 'string')
                : false),
      ),
    {
      path: ['authContext'],
      message: 'contradicts a condition on acrs: no token could meet both',
    },
  );

/**
 * The conditions a policy's caller must meet: its own, and its authentication context as the
 * condition it means (`acrs` holds it: `in` on a list claim holds when one element matches). The
 * evaluator and `check-access` both read this, so `authContext` has one meaning.
 */
export function effectiveConditions(
  policy: Pick<Policy, 'conditions' | 'authContext'>,
): readonly PolicyCondition[] {
  const own = policy.conditions ?? [];
  if (policy.authContext === undefined) return own;
  return [...own, { claim: AUTH_CONTEXT_CLAIM, operator: 'in', values: [policy.authContext] }];
}

export type Policy = z.output<typeof policySchema>;
/** A policy as written by an admin: `paths` and `enabled` may be omitted. */
export type PolicyInput = z.input<typeof policySchema>;
export type PolicyPrincipals = z.output<typeof principalsSchema>;
export type PolicyCondition = z.output<typeof conditionSchema>;

/**
 * What the deployment lets resources point at and read: `DOWNSTREAM_ALLOWED_HOSTS` and
 * `DOWNSTREAM_KEY_SETTINGS`.
 */
export interface ResourceRules {
  readonly allowedHosts: readonly string[];
  /**
   * The app settings a `functionKey` resource may name. An allow list, not a deny list: the
   * value is sent to the upstream, and a deny list always misses one (`CONTAINER_ENCRYPTION_KEY`,
   * `APPINSIGHTS_INSTRUMENTATIONKEY`, whatever the platform adds next).
   */
  readonly keySettings: readonly string[];
}

/** How the gateway authenticates to a resource's upstream, for a given list of usable key settings. */
export function resourceAuthSchema(keySettings: readonly string[]) {
  return z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('none') }),
    z.strictObject({
      type: z.literal('functionKey'),
      keySetting: z
        .string()
        .regex(APP_SETTING_PATTERN, 'must be an app setting name ([A-Za-z_][A-Za-z0-9_]*)')
        .refine((s) => keySettings.includes(s), 'must be listed in DOWNSTREAM_KEY_SETTINGS'),
    }),
    z.strictObject({
      type: z.literal('managedIdentity'),
      scope: z
        .string()
        .max(512)
        .regex(/^\S+\/\.default$/, 'must be a "<resource>/.default" scope, e.g. api://<app-id>/.default'),
    }),
    z.strictObject({
      type: z.literal('onBehalfOf'),
      scopes: z.array(z.string().min(1).max(512).regex(/^\S+$/, 'must not hold whitespace')).min(1).max(32),
    }),
  ]);
}

/** Quota windows and their length in seconds. */
export const QUOTA_WINDOWS = { minute: 60, hour: 3600, day: 86_400 } as const;
/** Most quotas one resource carries: each is one counter per request. */
export const MAX_QUOTAS = 8;

/**
 * One quota: at most `limit` calls per `per` (client `azp`/`appid`, user `oid`, tenant `tid`) and
 * fixed UTC `window` (docs/quotas.md).
 */
export const quotaSchema = z.strictObject({
  per: z.enum(['client', 'user', 'tenant']),
  limit: z.number().int().min(1).max(1_000_000_000),
  window: z.enum(['minute', 'hour', 'day']),
});
export type Quota = z.output<typeof quotaSchema>;

/**
 * The resource schema for the deployment's rules: `upstream` must be https (http only on
 * loopback) with its host in `allowedHosts`; a function key must come from a listed setting.
 */
export function resourceSchema({ allowedHosts, keySettings }: ResourceRules) {
  return z.strictObject({
    name: z.string().regex(RESOURCE_NAME_PATTERN, 'must match [a-z0-9][a-z0-9-]{0,62}'),
    upstream: z
      .string()
      .max(2048)
      .superRefine((value, ctx) => {
        const parsed = parseTrustedUrl(value);
        if ('problem' in parsed) {
          ctx.addIssue({ code: 'custom', message: parsed.problem });
        } else if (!hostMatchesAllowList(parsed.url.hostname, allowedHosts)) {
          ctx.addIssue({
            code: 'custom',
            message: `host "${parsed.url.hostname}" is not in DOWNSTREAM_ALLOWED_HOSTS`,
          });
        }
      }),
    auth: resourceAuthSchema(keySettings),
    timeoutMs: z
      .number()
      .int()
      .min(1)
      .max(POLICY_LIMITS.maxTimeoutMs)
      .default(POLICY_LIMITS.defaultTimeoutMs),
    /**
     * The `aud` of the `x-gateway-principal` statements sent to this downstream (what it checks
     * it is the intended recipient). Default: the resource's name.
     */
    audience: z.string().min(1).max(512).regex(/^\S+$/, 'must not hold whitespace').optional(),
    /**
     * Bind each statement to its request: `htm` (method), `htu` (upstream URL without query) and
     * a `jti`, signed per call, so a captured statement cannot be replayed to another method or
     * path. Costs one signature per call. Default false.
     */
    boundStatement: z.boolean().default(false),
    /**
     * Accept only DPoP-bound tokens (RFC 9449) for this resource: `/api/token` issues its tokens
     * only with a DPoP proof, and the proxy refuses Entra Bearer tokens and unbound SAS tokens. A
     * token copied off a device is then useless without the device's key. Default false.
     */
    requireDpop: z.boolean().optional(),
    /**
     * Every call to this resource needs this authentication context in the token's `acrs`
     * (docs/step-up.md): a Bearer call that policies allow is asked to step up without it.
     */
    authContext: authContext.optional(),
    /** Calls allowed per client, user or tenant and window, counted across every instance. */
    quotas: z
      .array(quotaSchema)
      .min(1)
      .max(MAX_QUOTAS)
      .refine(
        (quotas) => new Set(quotas.map((q) => `${q.per}/${q.window}`)).size === quotas.length,
        'two quotas with the same per and window',
      )
      .optional(),
    /**
     * What a call is told when the quota store does not answer in time (docs/quotas.md): `allow`
     * (default: quotas meter use, policies guard access) or `deny` (429, for quotas that guard cost).
     */
    quotaStoreFailure: z.enum(['allow', 'deny']).default('allow'),
  });
}

export type Resource = z.output<ReturnType<typeof resourceSchema>>;
export type ResourceInput = z.input<ReturnType<typeof resourceSchema>>;
export type ResourceAuth = z.output<ReturnType<typeof resourceAuthSchema>>;

/** The outcome of parsing a document: the typed value, or the field at fault and why. */
export type DocumentParseResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly field: string; readonly error: string };

function toResult<T>(parsed: z.ZodSafeParseResult<T>): DocumentParseResult<T> {
  if (parsed.success) return { ok: true, value: parsed.data };
  const { field, problem } = describeIssue(parsed.error);
  return { ok: false, field, error: `${field || '(document)'}: ${problem}` };
}

/**
 * Validates a policy document. Defaults are filled in (`paths: ["/**"]`, `enabled: true`).
 *
 * @example
 * ```ts
 * const r = parsePolicy({ id: 'p', effect: 'allow', resource: 'orders', actions: ['read'], paths: ['/a/../b'] });
 * // { ok: false, field: 'paths[0]', error: 'paths[0]: must not have "." or ".." segments' }
 * ```
 */
export function parsePolicy(json: unknown): DocumentParseResult<Policy> {
  return toResult(policySchema.safeParse(json));
}

/** Validates a resource document against the deployment's rules; `timeoutMs` defaults to 30000. */
export function parseResource(json: unknown, rules: ResourceRules): DocumentParseResult<Resource> {
  return toResult(resourceSchema(rules).safeParse(json));
}
