/**
 * Path globs of policies: syntax check, compilation, matching, and the two subtree questions a
 * SAS path scope asks (docs/reference.md §5, §6).
 *
 * A glob is `/` followed by segments separated by `/`. Each segment is exactly one of:
 *
 * | segment        | matches                                                            |
 * |----------------|--------------------------------------------------------------------|
 * | `orders`       | that literal segment                                               |
 * | `*`            | any one segment                                                    |
 * | `**`           | any number of segments, zero included                              |
 * | `{claims.oid}` | one segment equal to the caller's claim `oid`, compared literally  |
 *
 * `/` alone is the resource root. Wildcards and placeholders are whole segments only (`*.json`,
 * `user-{claims.oid}` are refused), so a claim value is always compared as one whole segment
 * and can never be read as glob syntax.
 *
 * Request paths are matched as segments. The proxy normalizes and refuses escaping paths before
 * it asks; the matcher is defensive anyway and never matches a path holding an empty, `.` or
 * `..` segment, a `\`, a `%` or a NUL.
 *
 * @example
 * ```ts
 * const glob = compilePathGlob('/customers/{claims.oid}/**');
 * matchPath(glob, ['customers', '42', 'orders'], { oid: '42' }); // true
 * coversSubtree(glob, ['customers', '42'], { oid: '42' });       // true: a SAS for orders/customers/42
 * ```
 */
import { UNTRUSTED_IDENTITY_CLAIMS, type Claims } from './subject';

/** Why a policy may not read `claim`: policies never see it (src/policy/subject.ts). */
export function untrustedClaimProblem(claim: string): string {
  return `"${claim}" is never given to policies (mutable, not for authorization): use oid, tid or a role`;
}

/** Longest glob accepted, in characters. */
export const MAX_GLOB_LENGTH = 512;

/** A placeholder segment: `{claims.NAME}`; NAME is a claim name as tokens carry it. */
const PLACEHOLDER = /^\{claims\.([A-Za-z0-9_.:-]{1,128})\}$/;

/** Characters no literal glob segment may hold: separators, escapes, glob syntax, controls, spaces. */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_LITERAL = /[\\%*?#{}\s\x00-\x1f\x7f]/;

/**
 * Characters that make a claim value unusable as a path segment. Why: a claim is data from the
 * token, and a value such as `*`, `a/b` or `%2e%2e` must never widen what a policy grants.
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_IN_CLAIM = /[/\\*?%\x00-\x1f\x7f]/;

/**
 * The one rule of a request path segment, for the decision API, the token exchange and the proxy
 * alike (the proxy applies it to each segment once decoded): not empty, `.` or `..`; no `/`, `\`,
 * `%`, `;` or control character; not ending in `.` or a space. Why `;` and the trailing `.` and
 * space: other servers read `/admin;x`, `/admin.` and `/admin ` as `/admin` (path parameters,
 * Windows trimming), so a path holding them could mean another path downstream.
 */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_IN_SEGMENT = /[/\\%;\x00-\x1f\x7f]|[. ]$/;

/** One compiled segment of a glob. */
export type GlobToken =
  | { readonly kind: 'literal'; readonly value: string; readonly lower: string }
  | { readonly kind: 'claim'; readonly claim: string }
  | { readonly kind: 'star' }
  | { readonly kind: 'globstar' };

/** A compiled glob. Build it with {@link compilePathGlob}; it is immutable and reusable. */
export interface PathGlob {
  readonly source: string;
  readonly tokens: readonly GlobToken[];
  /** Literal and claim segments compare case-insensitively (deny policies; see policy-index). */
  readonly caseInsensitive: boolean;
  /** The glob is `/**`: it matches every valid path. */
  readonly matchesEverything: boolean;
  readonly hasGlobstar: boolean;
  /** Number of non-`**` tokens: the fewest segments a matching path has. */
  readonly minSegments: number;
  /** Claim names the glob reads. */
  readonly claims: readonly string[];
}

export interface CompileGlobOptions {
  /**
   * Compare literal and claim segments ignoring case. Deny policies use it so that a deny on
   * `/admin/**` also stops `/ADMIN/x`: Azure Functions routes are case-insensitive, and a deny
   * must not be sidestepped by changing case.
   */
  readonly caseInsensitive?: boolean;
}

/** Claims as a Principal carries them. */

/**
 * Why `source` is not a valid glob, or `undefined` when it is. Used by the policy schema so a
 * bad glob is refused at write time with a precise message.
 */
export function globProblem(source: string): string | undefined {
  if (source.length === 0) return 'must not be empty';
  if (source.length > MAX_GLOB_LENGTH) return `must be at most ${MAX_GLOB_LENGTH} characters`;
  if (!source.startsWith('/')) return 'must start with "/"';
  if (source === '/') return undefined;
  const segments = source.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '') return 'must not have empty segments ("//" or a trailing "/")';
    if (segment === '.' || segment === '..') return 'must not have "." or ".." segments';
    if (segment === '*' || segment === '**') continue;
    if (segment.startsWith('{')) {
      const placeholder = PLACEHOLDER.exec(segment);
      if (placeholder === null) return `"${segment}" is not a placeholder of the form {claims.NAME}`;
      if (UNTRUSTED_IDENTITY_CLAIMS.includes(placeholder[1]!)) return untrustedClaimProblem(placeholder[1]!);
      continue;
    }
    if (segment.includes('*')) return '"*" and "**" must be whole segments';
    if (segment.includes('{') || segment.includes('}')) return '{claims.NAME} must be a whole segment';
    if (FORBIDDEN_LITERAL.test(segment)) {
      return `segment "${segment}" holds a character paths may not use (\\ % ? # { } whitespace or a control character)`;
    }
  }
  return undefined;
}

/** Raised by {@link compilePathGlob} on a glob the schema would have refused. */
export class PathGlobError extends Error {
  constructor(
    readonly glob: string,
    problem: string,
  ) {
    super(`Invalid path glob "${glob}": ${problem}`);
    this.name = 'PathGlobError';
  }
}

/** Compiles a glob. Throws {@link PathGlobError} on a glob {@link globProblem} refuses. */
export function compilePathGlob(source: string, options: CompileGlobOptions = {}): PathGlob {
  const problem = globProblem(source);
  if (problem !== undefined) throw new PathGlobError(source, problem);
  const caseInsensitive = options.caseInsensitive ?? false;
  const tokens: GlobToken[] = [];
  const claims: string[] = [];
  if (source !== '/') {
    for (const segment of source.slice(1).split('/')) {
      if (segment === '**') {
        // `**/**` means the same as `**`; collapsing keeps matching linear in common globs.
        if (tokens[tokens.length - 1]?.kind !== 'globstar') tokens.push({ kind: 'globstar' });
      } else if (segment === '*') {
        tokens.push({ kind: 'star' });
      } else {
        const claim = PLACEHOLDER.exec(segment)?.[1];
        if (claim !== undefined) {
          tokens.push({ kind: 'claim', claim });
          if (!claims.includes(claim)) claims.push(claim);
        } else {
          tokens.push({ kind: 'literal', value: segment, lower: segment.toLowerCase() });
        }
      }
    }
  }
  const minSegments = tokens.filter((t) => t.kind !== 'globstar').length;
  return {
    source,
    tokens,
    caseInsensitive,
    matchesEverything: tokens.length === 1 && tokens[0]?.kind === 'globstar',
    hasGlobstar: minSegments !== tokens.length,
    minSegments,
    claims,
  };
}

/**
 * The value of claim `name` as a path segment, or `undefined` when it cannot be one: missing,
 * not a string or finite number, empty, `.`, `..`, or holding `/ \ * ? %`, NUL or a control
 * character. Own properties only, so `constructor` or `__proto__` never resolve to anything.
 */
export function claimSegmentValue(claims: Claims, name: string): string | undefined {
  if (!Object.hasOwn(claims, name)) return undefined;
  const raw = claims[name];
  let value: string;
  if (typeof raw === 'string') value = raw;
  else if (typeof raw === 'number' && Number.isFinite(raw)) value = String(raw);
  else return undefined;
  if (value === '' || value === '.' || value === '..' || FORBIDDEN_IN_CLAIM.test(value)) return undefined;
  return value;
}

/** True when `segment` is a segment a normalized request path may hold (see {@link FORBIDDEN_IN_SEGMENT}). */
export function isValidSegment(segment: string): boolean {
  return segment !== '' && segment !== '.' && segment !== '..' && !FORBIDDEN_IN_SEGMENT.test(segment);
}

const SLASH = 0x2f;
const DOT = 0x2e;
const BACKSLASH = 0x5c;
const PERCENT = 0x25;
const SEMICOLON = 0x3b;
const SPACE = 0x20;
const DEL = 0x7f;

/**
 * A request path and where its segments are, without cutting it up: segment `i` is
 * `path.slice(bounds[2 * i], bounds[2 * i + 1])`. Why: the evaluator matches every candidate's
 * globs against the path; reading the segments in place spares a decision an array and a string
 * per segment. Fill one with {@link scanPath}; it may be reused for the next path.
 */
export interface PathSpans {
  path: string;
  /** Start and end offsets of each segment; grown by {@link scanPath} as a path needs. */
  bounds: Int32Array;
  count: number;
}

/** An empty {@link PathSpans}, ready for {@link scanPath}. */
export function newPathSpans(): PathSpans {
  return { path: '', bounds: new Int32Array(32), count: 0 };
}

/**
 * Reads a request path (`/customers/42`) into `spans`; false when it is not a normalized path:
 * no leading `/`, or a segment {@link isValidSegment} refuses. One trailing `/` is ignored,
 * so `/a/` and `/a` are the same path to policy: an allow and a deny see them alike. `/` and ``
 * are the root, no segments.
 */
export function scanPath(path: string, spans: PathSpans): boolean {
  spans.path = path;
  spans.count = 0;
  const length = path.length;
  if (length === 0 || path === '/') return true;
  if (path.charCodeAt(0) !== SLASH) return false;
  if (spans.bounds.length < length + 1) spans.bounds = new Int32Array(length + 1);
  const bounds = spans.bounds;
  const end = path.charCodeAt(length - 1) === SLASH ? length - 1 : length;
  // One pass, no regex: this runs on every request.
  let n = 0;
  let start = 1;
  for (let i = 1; i <= end; i++) {
    const c = i === end ? SLASH : path.charCodeAt(i);
    if (c === SLASH) {
      const size = i - start;
      if (size === 0) return false; // empty segment
      // `.`, `..`, and any segment ending in `.` or a space
      const last = path.charCodeAt(i - 1);
      if (last === DOT || last === SPACE) return false;
      bounds[n++] = start;
      bounds[n++] = i;
      start = i + 1;
    } else if (c === BACKSLASH || c === PERCENT || c === SEMICOLON || c < SPACE || c === DEL) {
      return false;
    }
  }
  spans.count = n >>> 1;
  return true;
}

/**
 * Splits a request path (`/customers/42`) into segments, or `undefined` when it is not a
 * normalized path (see {@link scanPath}). `/` and `` are the root, `[]`.
 */
export function splitPath(path: string): string[] | undefined {
  const spans = newPathSpans();
  if (!scanPath(path, spans)) return undefined;
  const segments = new Array<string>(spans.count);
  for (let i = 0; i < spans.count; i++)
    segments[i] = path.slice(spans.bounds[2 * i], spans.bounds[2 * i + 1]);
  return segments;
}

/**
 * `segments` as {@link PathSpans} over `/a/b`, without checking them (they may hold anything
 * {@link matchValidSegments} is given).
 */
export function spansOf(segments: readonly string[]): PathSpans {
  const bounds = new Int32Array(2 * segments.length);
  let offset = 0;
  for (let i = 0; i < segments.length; i++) {
    bounds[2 * i] = offset + 1;
    offset += 1 + segments[i]!.length;
    bounds[2 * i + 1] = offset;
  }
  return { path: segments.length === 0 ? '' : `/${segments.join('/')}`, bounds, count: segments.length };
}

/** True when every segment is valid (see {@link isValidSegment}). */
export function areValidSegments(segments: readonly string[]): boolean {
  for (const segment of segments) if (!isValidSegment(segment)) return false;
  return true;
}

const UPPER_A = 0x41;
const UPPER_Z = 0x5a;
const NON_ASCII = 0x80;

/**
 * `path[start, end).toLowerCase() === lower`, with no new string while the text is ASCII. Any
 * other character falls back to `toLowerCase`, so the answer is always the same as that one.
 */
function lowerEqualsAt(path: string, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = start; i < end; i++) {
    let c = path.charCodeAt(i);
    if (c >= NON_ASCII) return path.slice(start, end).toLowerCase() === lower;
    if (c >= UPPER_A && c <= UPPER_Z) c |= 0x20;
    // Every earlier character was ASCII, so `toLowerCase` keeps this one at the same offset.
    if (c !== lower.charCodeAt(i - start)) return false;
  }
  return true;
}

/** `path[start, end)` and `value` have the same length and are equal ignoring case (see {@link lowerEqualsAt}). */
function equalsIgnoringCaseAt(path: string, start: number, end: number, value: string): boolean {
  if (end - start !== value.length) return false;
  for (let i = 0; i < value.length; i++) {
    let a = path.charCodeAt(start + i);
    let b = value.charCodeAt(i);
    if (a >= NON_ASCII || b >= NON_ASCII) {
      return path.slice(start, end).toLowerCase() === value.toLowerCase();
    }
    if (a >= UPPER_A && a <= UPPER_Z) a |= 0x20;
    if (b >= UPPER_A && b <= UPPER_Z) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

/** `path[start, end) === value`. */
function equalsAt(path: string, start: number, end: number, value: string): boolean {
  return end - start === value.length && path.startsWith(value, start);
}

/** Whether one single-segment token matches the segment `path[start, end)`. */
function tokenMatchesAt(
  glob: PathGlob,
  token: GlobToken,
  path: string,
  start: number,
  end: number,
  claims: Claims,
): boolean {
  switch (token.kind) {
    case 'star':
    case 'globstar':
      return true;
    case 'literal':
      return glob.caseInsensitive
        ? lowerEqualsAt(path, start, end, token.lower)
        : equalsAt(path, start, end, token.value);
    case 'claim': {
      const value = claimSegmentValue(claims, token.claim);
      if (value === undefined) return false; // a missing or unusable claim never matches
      return glob.caseInsensitive
        ? equalsIgnoringCaseAt(path, start, end, value)
        : equalsAt(path, start, end, value);
    }
  }
}

/** Whether one single-segment token matches `segment`. */
function tokenMatches(glob: PathGlob, token: GlobToken, segment: string, claims: Claims): boolean {
  return tokenMatchesAt(glob, token, segment, 0, segment.length, claims);
}

/**
 * Matching over a path whose segments are known to be valid (the evaluator checks once per
 * request). Classic wildcard matching with backtracking to the last `**`: linear for globs with
 * one `**`, O(segments x tokens) at worst.
 */
export function matchSpans(glob: PathGlob, spans: PathSpans, claims: Claims): boolean {
  if (glob.matchesEverything) return true;
  const n = spans.count;
  if (n < glob.minSegments) return false;
  const { path, bounds } = spans;
  const tokens = glob.tokens;
  if (!glob.hasGlobstar) {
    if (n !== tokens.length) return false;
    for (let i = 0; i < n; i++) {
      if (!tokenMatchesAt(glob, tokens[i]!, path, bounds[2 * i]!, bounds[2 * i + 1]!, claims)) return false;
    }
    return true;
  }
  const m = tokens.length;
  let s = 0;
  let t = 0;
  let starT = -1;
  let starS = 0;
  while (s < n) {
    const token = tokens[t];
    if (token !== undefined && token.kind === 'globstar') {
      starT = t++;
      starS = s;
    } else if (
      token !== undefined &&
      tokenMatchesAt(glob, token, path, bounds[2 * s]!, bounds[2 * s + 1]!, claims)
    ) {
      t++;
      s++;
    } else if (starT >= 0) {
      t = starT + 1;
      s = ++starS;
    } else {
      return false;
    }
  }
  while (t < m && tokens[t]!.kind === 'globstar') t++;
  return t === m;
}

/** {@link matchSpans} over segments that are known to be valid. */
export function matchValidSegments(glob: PathGlob, segments: readonly string[], claims: Claims): boolean {
  if (glob.matchesEverything) return true;
  if (segments.length < glob.minSegments) return false;
  return matchSpans(glob, spansOf(segments), claims);
}

/**
 * Whether `glob` matches the request path `segments`, with `{claims.X}` read from `claims`.
 * Never matches a path with an invalid segment (see {@link isValidSegment}).
 */
export function matchPath(glob: PathGlob, segments: readonly string[], claims: Claims): boolean {
  return areValidSegments(segments) && matchValidSegments(glob, segments, claims);
}

// ---- Subtree questions (SAS path scopes) ------------------------------------------------------
//
// A glob is an automaton over segments: state i means "tokens[0..i) are consumed". A `**` at
// state i may be skipped (epsilon move to i+1) or consume one segment and stay at i. The
// questions below run that automaton over the prefix, then ask about every continuation.

/** Adds the states reachable by skipping `**` tokens. */
function closure(glob: PathGlob, states: Set<number>): Set<number> {
  for (const state of states) {
    // Iterating a Set visits entries added during iteration, which completes the closure.
    if (glob.tokens[state]?.kind === 'globstar') states.add(state + 1);
  }
  return states;
}

/** The states after consuming one segment. `segment === undefined` stands for a segment equal to no literal or claim. */
function step(
  glob: PathGlob,
  states: ReadonlySet<number>,
  segment: string | undefined,
  claims: Claims,
): Set<number> {
  const next = new Set<number>();
  for (const state of states) {
    const token = glob.tokens[state];
    if (token === undefined) continue;
    if (token.kind === 'globstar') next.add(state);
    else if (token.kind === 'star') next.add(state + 1);
    else if (segment !== undefined && tokenMatches(glob, token, segment, claims)) next.add(state + 1);
  }
  return closure(glob, next);
}

function statesAfter(glob: PathGlob, prefix: readonly string[], claims: Claims): Set<number> | undefined {
  if (!areValidSegments(prefix)) return undefined;
  let states = closure(glob, new Set([0]));
  for (const segment of prefix) {
    states = step(glob, states, segment, claims);
    if (states.size === 0) return states;
  }
  return states;
}

/** Bound on the subset construction; beyond it the answer is "not covered" (fail closed). */
const MAX_SUBSETS = 4096;

/**
 * True iff `glob` matches every path at or below `prefixSegments` (the prefix itself included),
 * with `{claims.X}` read from `claims`. This is what an allow policy must satisfy to grant a SAS
 * path scope: `/customers/{claims.oid}/**` covers `customers/42` for oid 42; `/customers/*`
 * does not (it misses `/customers/42/x`); `/**` covers everything.
 *
 * Decided exactly, by checking that the glob's automaton accepts every continuation: the
 * continuation alphabet is each literal or claim value the glob names plus "any other segment".
 */
export function coversSubtree(glob: PathGlob, prefixSegments: readonly string[], claims: Claims): boolean {
  if (glob.matchesEverything) return areValidSegments(prefixSegments);
  const start = statesAfter(glob, prefixSegments, claims);
  if (start === undefined || start.size === 0) return false;
  // The common shape (`/customers/{claims.oid}/**` for `customers/42`): the prefix leaves the glob
  // at its trailing `**`, which matches every continuation; no subset construction needed.
  const last = glob.tokens.length - 1;
  if (glob.tokens[last]?.kind === 'globstar' && start.has(last)) return true;
  const end = glob.tokens.length;
  const alphabet: Array<string | undefined> = [undefined];
  for (const token of glob.tokens) {
    if (token.kind === 'literal') alphabet.push(token.value);
    else if (token.kind === 'claim') {
      const value = claimSegmentValue(claims, token.claim);
      if (value !== undefined) alphabet.push(value);
    }
  }
  const key = (states: ReadonlySet<number>): string => [...states].sort((a, b) => a - b).join(',');
  const seen = new Set<string>([key(start)]);
  const queue: Array<Set<number>> = [start];
  while (queue.length > 0) {
    const states = queue.pop()!;
    if (!states.has(end)) return false; // this continuation ends here and is not matched
    for (const symbol of alphabet) {
      const next = step(glob, states, symbol, claims);
      const k = key(next);
      if (seen.has(k)) continue;
      if (seen.size >= MAX_SUBSETS) return false;
      seen.add(k);
      queue.push(next);
    }
  }
  return true;
}

/**
 * True iff `glob` matches at least one path at or below `prefixSegments`. This is what makes a
 * deny policy block a SAS path scope: `/customers/*\/secret` reaches into `customers`, and into
 * `customers/42`, but not into `invoices`.
 */
export function reachesInto(glob: PathGlob, prefixSegments: readonly string[], claims: Claims): boolean {
  if (glob.matchesEverything) return areValidSegments(prefixSegments);
  const states = statesAfter(glob, prefixSegments, claims);
  if (states === undefined) return false;
  // From state i the end is reachable unless a later token is a claim that cannot be resolved.
  for (const state of states) {
    let live = true;
    for (let i = state; i < glob.tokens.length; i++) {
      const token = glob.tokens[i]!;
      if (token.kind === 'claim' && claimSegmentValue(claims, token.claim) === undefined) {
        live = false;
        break;
      }
    }
    if (live) return true;
  }
  return false;
}
