/**
 * The caller as policies see it, made by one function from a token's claims: the Entra validator
 * calls {@link subjectFromClaims} on a verified token's payload, and the admin what-if of
 * `POST /api/authorize` on the claims it is given. So a what-if decides exactly as the gateway
 * decides for a token carrying those claims: the same claims dropped, the same `idtyp`
 * classification, the same groups-overage rule.
 */

/** A token's claims, as conditions and `{claims.X}` paths read them. */
export type Claims = Readonly<Record<string, unknown>>;

/**
 * Claims policies never see: mutable, user-editable or recyclable identifiers that must never
 * decide access (docs/reference.md §3). They are dropped from every subject, and a policy that
 * tests one is refused when it is saved (it could never match).
 */
export const UNTRUSTED_IDENTITY_CLAIMS: readonly string[] = [
  'email',
  'upn',
  'preferred_username',
  'unique_name',
];

/**
 * Claims policies see only as a list of strings, and not at all in any other shape. `acrs`:
 * Entra lists the authentication contexts a user met as an array; a token with another shape
 * is taken to have met none (never a 401 or a 5xx: the caller is asked to step up). check-access
 * enumerates these claims as lists only.
 */
export const LIST_ONLY_CLAIMS: readonly string[] = ['acrs'];

/** What the policy evaluator reads of a caller. */
export interface PolicySubject {
  /** Object id of the user or service principal. */
  readonly oid: string | undefined;
  /** Tenant id (lower-case). */
  readonly tid: string;
  /** Client application id: `azp` (v2) or `appid` (v1). */
  readonly azp: string | undefined;
  /** App roles (`roles`). */
  readonly roles: readonly string[];
  /** Delegated scopes (`scp`, space-separated in the token). */
  readonly scopes: readonly string[];
  /** Group object ids (`groups`); empty when {@link groupsOverage}. */
  readonly groups: readonly string[];
  /**
   * The token carries Entra's groups-overage marker instead of its groups (`_claim_names.groups`,
   * or `hasgroups: true`). Its membership is unknown, so a policy that tests groups never lets it
   * pass: an allow that needs a group does not match, a deny that names groups applies.
   */
  readonly groupsOverage?: boolean;
  /**
   * The token is, or is about to be, bound to a DPoP key whose proof came with the request: set
   * by the gateway, never read from a claim. A `requireDpop` policy matches only such a caller.
   */
  readonly dpopBound?: boolean;
  /** The claims conditions and `{claims.X}` paths read: the token's, less the untrusted ones. */
  readonly claims: Claims;
}

/** The subject of a token and the classification the gateway makes of it. */
export interface ClaimsSubject extends PolicySubject {
  readonly groupsOverage: boolean;
  /** `app` for app-only tokens (client credentials), `user` for delegated ones. */
  readonly idtyp: 'app' | 'user';
}

/** A claim of the wrong type: `claim` names it. */
export class ClaimTypeError extends Error {
  constructor(
    readonly claim: string,
    readonly expected: string,
  ) {
    super(`"${claim}" must be ${expected}`);
  }
}

/**
 * Entra's groups-overage marker: a token for a user in more groups than fit (200 in a JWT) names
 * a Graph source under `_claim_names.groups` instead; implicit-flow tokens say `hasgroups: true`.
 */
export function hasGroupsOverage(claims: Readonly<Record<string, unknown>>): boolean {
  if (claims.hasgroups === true || claims.hasgroups === 'true') return true;
  const names = claims._claim_names;
  return typeof names === 'object' && names !== null && Object.hasOwn(names, 'groups');
}

/**
 * The subject of a token's claims. `tid` is taken as given (the validator has checked it).
 *
 * @throws {ClaimTypeError} a claim policies read has the wrong type
 */
export function subjectFromClaims(payload: Readonly<Record<string, unknown>>): ClaimsSubject {
  const roles = optionalStringArray(payload, 'roles');
  const groupsOverage = hasGroupsOverage(payload);
  // With the overage marker, whatever `groups` holds is not the whole membership: ignore it.
  const groups = groupsOverage ? [] : optionalStringArray(payload, 'groups');
  const scp = optionalString(payload, 'scp');
  const oid = optionalString(payload, 'oid');
  const sub = optionalString(payload, 'sub');
  const idtyp = optionalString(payload, 'idtyp');
  const tid = optionalString(payload, 'tid') ?? '';
  // v2 names the client `azp`, v1 `appid`.
  const azp = optionalString(payload, 'azp') ?? optionalString(payload, 'appid');
  const scopes = scp === undefined ? [] : scp.split(' ').filter((s) => s.length > 0);

  // Entra sets `idtyp: app` only when the app opts into the optional claim; without it, an
  // app-only token is recognised by having no delegated scopes and `sub === oid`.
  const isApp =
    idtyp === 'app' || (idtyp === undefined && scp === undefined && oid !== undefined && oid === sub);

  const kept: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(payload)) {
    if (!UNTRUSTED_IDENTITY_CLAIMS.includes(name)) kept[name] = value;
  }
  if (groupsOverage) delete kept.groups;
  for (const name of LIST_ONLY_CLAIMS) {
    if (Object.hasOwn(kept, name) && !isStringArray(kept[name])) delete kept[name];
  }
  // Policies see the gateway's classification, not only what the token says: an app-only token
  // without the optional `idtyp` claim still meets a condition on `idtyp equals app`.
  kept.idtyp = isApp ? 'app' : 'user';
  return {
    oid,
    tid: tid.toLowerCase(),
    azp,
    roles: Object.freeze(roles),
    scopes: Object.freeze(scopes),
    groups: Object.freeze(groups),
    groupsOverage,
    idtyp: isApp ? 'app' : 'user',
    claims: Object.freeze(kept),
  };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string');
}

/** The authentication contexts a subject's token lists (`acrs`), none when absent. */
export function authContextsOf(claims: Claims): readonly string[] {
  const acrs = Object.hasOwn(claims, 'acrs') ? claims.acrs : undefined;
  return isStringArray(acrs) ? acrs : [];
}

function optionalString(payload: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const value = payload[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new ClaimTypeError(name, 'a string');
  return value;
}

function optionalStringArray(payload: Readonly<Record<string, unknown>>, name: string): string[] {
  const value = payload[name];
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v): v is string => typeof v === 'string')) {
    throw new ClaimTypeError(name, 'an array of strings');
  }
  return [...value];
}
