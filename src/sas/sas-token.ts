/**
 * The SAS token format (docs/sas-token.md): a URL query string of signed fields plus `sig`, the
 * base64url HMAC-SHA256 of the string-to-sign under the key named `skn`.
 *
 * String-to-sign: the decoded values of {@link SAS_SIGNED_FIELDS}, in that order, then `jkt` when
 * the token is DPoP-bound, joined by `\n` (no trailing newline). No value may contain `\n` (every field has a charset without it), so the
 * string is unambiguous. Parsing is strict and happens before any HMAC: an oversized token, an
 * unknown, missing or repeated field, a value outside its charset or a bad percent-encoding is
 * `ERR_SAS_INVALID`. The order of the fields in the query string does not matter.
 */
import { createHmac, timingSafeEqual, type KeyObject } from 'node:crypto';
import { actionsForPermissions, type Action as SasAction } from '../policy/actions';
import { isValidSegment } from '../policy/path-glob';
import { KEY_NAME_PATTERN, type HmacKeyRing } from './hmac-key-ring';
import { GatewayError, type ErrorCode } from '../errors';

/** The token format version this code reads and writes. */
export const SAS_VERSION = '1';

/** Signed fields, in string-to-sign order. `sig` is the only unsigned one. */
export const SAS_SIGNED_FIELDS = [
  'sv',
  'sr',
  'sp',
  'st',
  'se',
  'skn',
  'sid',
  'tid',
  'oid',
  'azp',
  'spi',
  'spv',
] as const;

export type SasSignedField = (typeof SAS_SIGNED_FIELDS)[number];

/**
 * The optional signed field of a DPoP-bound token: the RFC 7638 thumbprint of the client's key
 * (RFC 9449 `cnf.jkt`). Signed after the others when present; a token without it is unbound.
 */
export const SAS_BINDING_FIELD = 'jkt';

/** Longest token accepted, in characters: refused before any decoding or HMAC. */
export const MAX_SAS_TOKEN_LENGTH = 4096;

/** The actions a SAS may grant, in `sp` letter order (`r c w d`): the policy actions. */
export { ACTIONS as SAS_ACTIONS, type Action as SasAction } from '../policy/actions';

/** The values a token carries, decoded. */
export interface SasTokenFields {
  readonly sv: string;
  /** `orders` or `orders/customers/42`. */
  readonly sr: string;
  /** Canonical permission letters (`rcwd` order). */
  readonly sp: string;
  /** Start, unix seconds. */
  readonly st: number;
  /** Expiry, unix seconds (exclusive). */
  readonly se: number;
  readonly skn: string;
  readonly sid: string;
  readonly tid: string;
  readonly oid: string;
  readonly azp: string;
  /** Ids of the allow policies that granted it, as issued. */
  readonly spi: readonly string[];
  /**
   * The version tag of each `spi` policy when the token was issued, in the same order: any write
   * to a granting policy (narrowing, disabling, deleting and re-creating) changes its tag, and
   * with it revokes the token (see `policyVersionTag` in src/policy/policy-version.ts).
   */
  readonly spv: readonly string[];
  /** The thumbprint of the DPoP key the token is bound to; absent on an unbound token. */
  readonly jkt?: string;
}

/** A token that parsed (not yet verified). */
export interface ParsedSasToken extends SasTokenFields {
  readonly sig: string;
  /** The resource name part of `sr`. */
  readonly resource: string;
  /** The path scope part of `sr` as segments (`[]`: the whole resource). */
  readonly pathPrefix: readonly string[];
  readonly actions: readonly SasAction[];
}

// ---- Field charsets ---------------------------------------------------------------------------

const RESOURCE = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** A path scope segment: unreserved characters plus `@` and `:`; never `.` or `..` alone. */
const SCOPE_SEGMENT = /^[A-Za-z0-9._~@:-]{1,256}$/;
const MAX_SCOPE_SEGMENTS = 32;
const UNIX_SECONDS = /^(?:0|[1-9][0-9]{0,10})$/;
const SID = /^[A-Za-z0-9_-]{22,86}$/;
const TID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const IDENTIFIER = /^[A-Za-z0-9._:@-]{1,128}$/;
const POLICY_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const MAX_SPI = 64;
/** A policy version tag: 66 bits of its ETag's SHA-256, base64url. */
const VERSION_TAG = /^[A-Za-z0-9_-]{11}$/;
/** base64url of 32 bytes, no padding. */
const SIG = /^[A-Za-z0-9_-]{43}$/;

/**
 * A SAS that does not verify: 401 with a `SharedAccessSignature` challenge. The public message is
 * the code's title (a client learns no more than the code); why is kept as the cause, for logs.
 */
export function sasError(code: ErrorCode, why?: string): GatewayError {
  return new GatewayError(code, undefined, {
    challenge: ['SharedAccessSignature'],
    ...(why === undefined ? {} : { cause: new Error(why) }),
  });
}

const invalid = (why: string): GatewayError => sasError('ERR_SAS_INVALID', why);

/**
 * Segments of a path scope (`customers/42`), or undefined when one is not allowed: each a request
 * path segment by the one path rule (`isValidSegment`, so no scope is issued that the proxy would
 * refuse as a path), in the token's narrower charset.
 */
export function scopeSegments(path: string): string[] | undefined {
  const segments = path.split('/');
  if (segments.length > MAX_SCOPE_SEGMENTS) return undefined;
  for (const s of segments) if (!SCOPE_SEGMENT.test(s) || !isValidSegment(s)) return undefined;
  return segments;
}

/** Splits `sr` into its resource and path prefix; undefined unless canonical. */
export function parseResourceScope(sr: string): { resource: string; pathPrefix: string[] } | undefined {
  const slash = sr.indexOf('/');
  const resource = slash === -1 ? sr : sr.slice(0, slash);
  if (!RESOURCE.test(resource)) return undefined;
  if (slash === -1) return { resource, pathPrefix: [] };
  const pathPrefix = scopeSegments(sr.slice(slash + 1));
  return pathPrefix === undefined ? undefined : { resource, pathPrefix };
}

function decodeValue(raw: string): string {
  if (raw.indexOf('%') === -1) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw invalid('a field has a malformed percent-encoding');
  }
}

function seconds(value: string, field: string): number {
  if (!UNIX_SECONDS.test(value)) throw invalid(`"${field}" is not unix seconds`);
  return Number(value);
}

function check(ok: boolean, field: string): void {
  if (!ok) throw invalid(`"${field}" has a value outside its format`);
}

const KNOWN = new Set<string>([...SAS_SIGNED_FIELDS, SAS_BINDING_FIELD, 'sig']);
/** A SHA-256 thumbprint, base64url. */
const JKT = /^[A-Za-z0-9_-]{43}$/;

/**
 * Parses a token strictly, without verifying it.
 *
 * @throws {GatewayError} `ERR_SAS_INVALID` for anything but a well-formed token.
 */
export function parseSasToken(token: string): ParsedSasToken {
  if (typeof token !== 'string' || token.length === 0) throw invalid('the token is empty');
  if (token.length > MAX_SAS_TOKEN_LENGTH) throw invalid('the token is too large');
  const values = new Map<string, string>();
  for (const pair of token.split('&')) {
    const eq = pair.indexOf('=');
    const name = eq === -1 ? pair : pair.slice(0, eq);
    if (!KNOWN.has(name)) throw invalid('the token has an unknown field');
    if (values.has(name)) throw invalid(`the token repeats "${name}"`);
    if (eq === -1) throw invalid(`"${name}" has no value`);
    values.set(name, decodeValue(pair.slice(eq + 1)));
  }
  const get = (name: string): string => {
    const value = values.get(name);
    if (value === undefined || value.length === 0) throw invalid(`the token lacks "${name}"`);
    return value;
  };
  const sv = get('sv');
  if (sv !== SAS_VERSION) throw invalid('unsupported token version');
  const sr = get('sr');
  const scope = parseResourceScope(sr);
  if (scope === undefined) throw invalid('"sr" has a value outside its format');
  const sp = get('sp');
  const actions = actionsForPermissions(sp);
  if (actions === undefined) throw invalid('"sp" is not canonical permission letters');
  const st = seconds(get('st'), 'st');
  const se = seconds(get('se'), 'se');
  if (se <= st) throw invalid('"se" is not after "st"');
  const skn = get('skn');
  check(KEY_NAME_PATTERN.test(skn), 'skn');
  const sid = get('sid');
  check(SID.test(sid), 'sid');
  const tid = get('tid');
  check(TID.test(tid), 'tid');
  const oid = get('oid');
  check(IDENTIFIER.test(oid), 'oid');
  const azp = get('azp');
  check(IDENTIFIER.test(azp), 'azp');
  const spiText = get('spi');
  const spi = spiText.split(',');
  check(spi.length <= MAX_SPI && spi.every((id) => POLICY_ID.test(id)), 'spi');
  if (new Set(spi).size !== spi.length) throw invalid('"spi" repeats a policy id');
  const spv = get('spv').split(',');
  check(spv.length === spi.length && spv.every((tag) => VERSION_TAG.test(tag)), 'spv');
  const jkt = values.get(SAS_BINDING_FIELD);
  if (jkt !== undefined) check(JKT.test(jkt), SAS_BINDING_FIELD);
  const sig = get('sig');
  check(SIG.test(sig), 'sig');
  const parsed = { sv, sr, sp, st, se, skn, sid, tid, oid, azp, spi, spv, sig, ...scope, actions };
  return jkt === undefined ? parsed : { ...parsed, jkt };
}

/**
 * The string-to-sign: the signed values in {@link SAS_SIGNED_FIELDS} order, joined by `\n`.
 *
 * @example
 * ```ts
 * sasStringToSign({ sv: '1', sr: 'orders', sp: 'r', st: 1, se: 2, skn: 'k1', sid, tid, oid, azp, spi: ['p'], spv: ['AbCdEfGhIjK'] });
 * // '1\norders\nr\n1\n2\nk1\n<sid>\n<tid>\n<oid>\n<azp>\np\nAbCdEfGhIjK'
 * ```
 */
export function sasStringToSign(fields: SasTokenFields): string {
  return [
    fields.sv,
    fields.sr,
    fields.sp,
    String(fields.st),
    String(fields.se),
    fields.skn,
    fields.sid,
    fields.tid,
    fields.oid,
    fields.azp,
    fields.spi.join(','),
    fields.spv.join(','),
    ...(fields.jkt === undefined ? [] : [fields.jkt]),
  ].join('\n');
}

/** base64url HMAC-SHA256 of `stringToSign`. */
export function sasSignature(stringToSign: string, key: KeyObject): string {
  return createHmac('sha256', key).update(stringToSign, 'utf8').digest('base64url');
}

/** The query-string form of signed fields and their signature (fields in signed order, `sig` last). */
export function serializeSasToken(fields: SasTokenFields, sig: string): string {
  const values: Record<SasSignedField, string> = {
    sv: fields.sv,
    sr: fields.sr,
    sp: fields.sp,
    st: String(fields.st),
    se: String(fields.se),
    skn: fields.skn,
    sid: fields.sid,
    tid: fields.tid,
    oid: fields.oid,
    azp: fields.azp,
    spi: fields.spi.join(','),
    spv: fields.spv.join(','),
  };
  const binding = fields.jkt === undefined ? '' : `&${SAS_BINDING_FIELD}=${fields.jkt}`;
  return `${SAS_SIGNED_FIELDS.map((f) => `${f}=${encodeURIComponent(values[f])}`).join('&')}${binding}&sig=${sig}`;
}

/**
 * Checks the signature with the key named by `skn`, in constant time.
 *
 * @throws {GatewayError} `ERR_SAS_INVALID` for an unknown key name or a wrong signature.
 */
export function verifySasSignature(token: ParsedSasToken, keys: HmacKeyRing): void {
  const key = keys.get(token.skn);
  if (key === undefined) throw invalid('the token is signed with an unknown key');
  const expected = Buffer.from(sasSignature(sasStringToSign(token), key.key), 'latin1');
  const given = Buffer.from(token.sig, 'latin1');
  // Both are 43 characters (the parser checked `sig`); timingSafeEqual needs equal lengths.
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw invalid('the signature does not verify');
  }
}

/**
 * Checks `st - skew <= now < se`.
 *
 * @throws {GatewayError} `ERR_SAS_EXPIRED` at or after `se`; `ERR_SAS_NOT_YET_VALID` before `st - skew`.
 */
export function checkSasTime(
  token: Pick<SasTokenFields, 'st' | 'se'>,
  now: number,
  skewSeconds: number,
): void {
  if (now >= token.se) throw sasError('ERR_SAS_EXPIRED');
  if (now < token.st - skewSeconds) throw sasError('ERR_SAS_NOT_YET_VALID');
}

/** What a verified SAS grants, and to whom. */
export interface SasGrant {
  /** `orders/customers/42`, as signed. */
  readonly scope: string;
  readonly resource: string;
  /** Path scope segments (`['customers', '42']`; `[]` for the whole resource). */
  readonly pathPrefix: readonly string[];
  readonly actions: readonly SasAction[];
  /** `sp` letters. */
  readonly permissions: string;
  /** Token id (`sid`). */
  readonly sid: string;
  /** Ids of the allow policies that granted it (`spi`). */
  readonly policies: readonly string[];
  /** Their version tags when it was issued (`spv`), in the same order. */
  readonly policyVersions: readonly string[];
  readonly tid: string;
  readonly oid: string;
  readonly azp: string;
  /** `st` and `se`, unix seconds. */
  readonly issuedAt: number;
  readonly expiresAt: number;
  /** `skn`. */
  readonly keyName: string;
  /**
   * `jkt`: the RFC 7638 thumbprint of the DPoP key the token is bound to (RFC 9449). A bound
   * token is good only with a proof of that key (`Authorization: DPoP`); absent when unbound.
   */
  readonly jkt?: string;
}

/** The grant of a parsed (and verified) token. */
export function grantOf(parsed: ParsedSasToken): SasGrant {
  return {
    scope: parsed.sr,
    resource: parsed.resource,
    pathPrefix: parsed.pathPrefix,
    actions: parsed.actions,
    permissions: parsed.sp,
    sid: parsed.sid,
    policies: parsed.spi,
    policyVersions: parsed.spv,
    tid: parsed.tid,
    oid: parsed.oid,
    azp: parsed.azp,
    issuedAt: parsed.st,
    expiresAt: parsed.se,
    keyName: parsed.skn,
    ...(parsed.jkt === undefined ? {} : { jkt: parsed.jkt }),
  };
}
