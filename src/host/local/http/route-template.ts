/**
 * Route templates as the Functions host reads them (ASP.NET Core routing): compiling a template,
 * matching the path below `/api` against it, ordering templates by precedence, and refusing raw
 * paths that URL parsing would silently rewrite.
 */

/** The route prefix of host.json (`extensions.http.routePrefix`). */
export const ROUTE_PREFIX = 'api';

// ---------------------------------------------------------------------------------------------
// Route templates
// ---------------------------------------------------------------------------------------------

type Segment =
  | { kind: 'literal'; text: string }
  | { kind: 'param'; name: string; optional: boolean; constraint: ((value: string) => boolean) | undefined }
  | { kind: 'catchAll'; name: string };

/** A compiled route template: matches the segments of a path below the prefix. */
export interface RouteTemplate {
  readonly template: string;
  /** Sort key: literal segments outrank parameters, which outrank optional ones and catch-alls. */
  readonly precedence: readonly number[];
  match(segments: readonly string[]): Record<string, string> | undefined;
}

/** Inline constraints of ASP.NET Core routing that function routes commonly use. */
const CONSTRAINTS: Readonly<Record<string, (value: string) => boolean>> = {
  int: (v) => /^-?\d+$/.test(v),
  long: (v) => /^-?\d+$/.test(v),
  guid: (v) => /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i.test(v),
  alpha: (v) => /^[a-z]+$/i.test(v),
  bool: (v) => /^(true|false)$/i.test(v),
};

/**
 * Compiles an Azure Functions route template. Literal segments match case-insensitively, as the
 * host's ASP.NET Core routing does; `{name?}` and `{*name}` may only come last.
 *
 * @example
 * compileRouteTemplate('proxy/{resource}/{*path}').match(['proxy', 'orders', 'a', 'b'])
 * // => { resource: 'orders', path: 'a/b' }
 */
export function compileRouteTemplate(template: string): RouteTemplate {
  const parts = template.split('/').filter((part) => part.length > 0);
  const segments: Segment[] = parts.map((part, index) => {
    const param = /^\{(\*{1,2})?([A-Za-z_][\w]*)(?::(\w+))?(\?)?\}$/.exec(part);
    if (!param) {
      if (/[{}]/.test(part)) throw new Error(`Route "${template}": unsupported segment "${part}"`);
      return { kind: 'literal', text: part.toLowerCase() };
    }
    const [, star, name = '', constraintName, optional] = param;
    const last = index === parts.length - 1;
    if ((star || optional) && !last)
      throw new Error(`Route "${template}": "${part}" must be the last segment`);
    if (star) return { kind: 'catchAll', name };
    const constraint = constraintName === undefined ? undefined : CONSTRAINTS[constraintName.toLowerCase()];
    if (constraintName !== undefined && constraint === undefined) {
      throw new Error(`Route "${template}": unknown constraint "${constraintName}"`);
    }
    return { kind: 'param', name, optional: optional === '?', constraint };
  });
  const precedence = segments.map((s) =>
    s.kind === 'literal' ? 0 : s.kind === 'catchAll' ? 4 : s.optional ? 3 : s.constraint ? 1 : 2,
  );
  return {
    template,
    precedence,
    match(path) {
      const params: Record<string, string> = {};
      for (const [index, segment] of segments.entries()) {
        const value = path[index];
        if (segment.kind === 'catchAll') {
          const rest = path.slice(index).join('/');
          if (rest.length > 0) params[segment.name] = rest;
          return params;
        }
        if (value === undefined) return segment.kind === 'param' && segment.optional ? params : undefined;
        if (segment.kind === 'literal') {
          if (value.toLowerCase() !== segment.text) return undefined;
        } else {
          if (segment.constraint && !segment.constraint(value)) return undefined;
          params[segment.name] = value;
        }
      }
      return path.length === segments.length ? params : undefined;
    },
  };
}

/**
 * The path below `/api` as decoded segments, or undefined when the path is outside the prefix.
 * Like the host's server, `%2F` stays encoded, so an encoded slash never splits a segment, and a
 * segment with malformed percent-encoding is left as it came (ASP.NET Core's decoder does the
 * same): the request still reaches its route, whose own checks refuse it and whose answer is
 * audited (the proxy's path check answers 400 `ERR_PATH_TRAVERSAL`).
 */
export function routeSegments(pathname: string): string[] | undefined {
  const raw = pathname.split('/').slice(1);
  if (raw[0]?.toLowerCase() !== ROUTE_PREFIX) return undefined;
  const rest = raw.slice(1);
  // A trailing slash does not change the route (ASP.NET Core routing ignores it).
  if (rest.length > 0 && rest[rest.length - 1] === '') rest.pop();
  return rest.map((segment) => {
    try {
      return decodeURIComponent(segment.replace(/%2f/gi, '%252F'));
    } catch {
      return segment;
    }
  });
}

/**
 * True when the raw request target's path has a segment that URL parsing would resolve (`.`,
 * `..`, any `%2e` spelling of them) or a backslash (which it turns into `/`).
 */
export function rawPathResolvesDots(target: string): boolean {
  let end = target.indexOf('?');
  if (end === -1) end = target.length;
  const path = target.slice(0, end);
  if (path.includes('\\')) return true;
  if (!path.includes('.') && !/%2e/i.test(path)) return false;
  for (const segment of path.split('/')) {
    const s = segment.replace(/%2e/gi, '.');
    if (s === '.' || s === '..') return true;
  }
  return false;
}

/** Orders templates as the host does: more specific first. */
export function comparePrecedence(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    // A missing segment sorts after a present one: longer literal routes are more specific.
    const diff = (a[i] ?? 5) - (b[i] ?? 5);
    if (diff !== 0) return diff;
  }
  return 0;
}
