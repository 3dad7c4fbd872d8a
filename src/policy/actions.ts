/**
 * Policy actions, the HTTP methods they stand for, and their SAS permission letters
 * (docs/reference.md §5, §6).
 *
 * | action   | methods    | SAS letter |
 * |----------|------------|------------|
 * | `read`   | GET, HEAD  | `r`        |
 * | `create` | POST       | `c`        |
 * | `write`  | PUT, PATCH | `w`        |
 * | `delete` | DELETE     | `d`        |
 *
 * Any other method (OPTIONS, TRACE, CONNECT, custom verbs) has no action, so no policy can allow
 * it: the gateway refuses it by default.
 */

/** Every action, in SAS permission order. */
export const ACTIONS = ['read', 'create', 'write', 'delete'] as const;

export type Action = (typeof ACTIONS)[number];

/** What a policy's `actions` list may hold: an action or `*` for all of them. */
export type ActionPattern = Action | '*';

/** The HTTP methods that have an action: what the proxy route accepts. */
export const ACTION_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

const METHOD_ACTIONS: ReadonlyMap<string, Action> = new Map([
  ['GET', 'read'],
  ['HEAD', 'read'],
  ['POST', 'create'],
  ['PUT', 'write'],
  ['PATCH', 'write'],
  ['DELETE', 'delete'],
]);

/**
 * The action an HTTP method performs, or `undefined` for a method no policy can allow. Methods
 * are case-sensitive (RFC 9110 section 9.1): `get` is not `GET`.
 *
 * @example
 * ```ts
 * actionForMethod('PATCH'); // 'write'
 * actionForMethod('OPTIONS'); // undefined
 * ```
 */
export function actionForMethod(method: string): Action | undefined {
  return METHOD_ACTIONS.get(method);
}

/** True when `value` is one of {@link ACTIONS}. */
export function isAction(value: unknown): value is Action {
  return typeof value === 'string' && (ACTIONS as readonly string[]).includes(value);
}

const LETTERS: Readonly<Record<Action, string>> = { read: 'r', create: 'c', write: 'w', delete: 'd' };

/** The SAS `sp` value for a set of actions: letters in the order `r c w d`, each once. */
export function permissionsForActions(actions: Iterable<Action>): string {
  const wanted = new Set(actions);
  return ACTIONS.filter((a) => wanted.has(a))
    .map((a) => LETTERS[a])
    .join('');
}

/**
 * The actions of a SAS `sp` value, or `undefined` unless it is canonical: non-empty, known
 * letters only, each once, in the order `r c w d`. Canonical-only means one permission set has
 * exactly one signed spelling.
 */
export function actionsForPermissions(sp: string): Action[] | undefined {
  const actions: Action[] = [];
  let next = 0;
  for (const letter of sp) {
    let found = -1;
    for (let i = next; i < ACTIONS.length; i++) {
      if (LETTERS[ACTIONS[i]!] === letter) {
        found = i;
        break;
      }
    }
    if (found < 0) return undefined;
    actions.push(ACTIONS[found]!);
    next = found + 1;
  }
  return actions.length > 0 ? actions : undefined;
}
