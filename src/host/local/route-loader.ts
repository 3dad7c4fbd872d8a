import { existsSync, readdirSync } from 'node:fs';
import { extname, join, resolve } from 'node:path';
import { isRouteDefinition } from '../route-definition';
import type { HttpRoute } from './http-adapter';

/** Warnings `@azure/functions` prints in test mode, i.e. whenever it runs outside the Functions host. */
const TEST_MODE_WARNINGS = [
  'Skipping call to register function',
  'Failed to detect the Azure Functions runtime',
  'HTTP streaming enabled.',
];

/**
 * The repository root when running from sources (jest), or `dist/` when running compiled: the
 * directory that holds `functions/`, `src/` and `samples/` either way.
 */
export const PROJECT_ROOT = resolve(__dirname, '..', '..', '..');

/**
 * The directory of an app's function modules and the extension to load: `dist/functions/*.js`
 * (what package.json `main` names for the Functions host) when compiled, `functions/*.ts` from
 * sources.
 *
 * @param app the app's directory below the project root: `.` for the gateway, `samples/orders`
 */
export function functionsDirectory(app = '.'): { dir: string; extensions: string[] } {
  const compiled = extname(__filename) === '.js';
  return { dir: join(PROJECT_ROOT, app, 'functions'), extensions: compiled ? ['.js'] : ['.ts'] };
}

/**
 * Requires every function module in `dir` (files ending in one of `extensions`, in name order;
 * not `.d.ts`) and returns the route definitions they export as `route`. Each module also calls
 * `app.http`, which outside the host registers nothing: the local stack serves the definitions.
 */
export function loadRoutes<T>(dir: string, extensions: readonly string[]): HttpRoute<T>[] {
  if (!existsSync(dir)) throw new Error(`No functions directory at ${dir}`);
  const files = readdirSync(dir)
    .filter((file) => extensions.includes(extname(file)) && !file.endsWith('.d.ts'))
    .sort();
  const routes: HttpRoute<T>[] = [];
  withoutTestModeWarnings(() => {
    for (const file of files) {
      // Which modules exist is known only at run time, and they must load synchronously in the
      // same module registry as the caller (jest's, in tests): a plain require does both.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const exported = (require(join(dir, file)) as { route?: unknown }).route;
      if (!isRouteDefinition(exported))
        throw new Error(`${join(dir, file)} does not export a route definition as "route"`);
      routes.push(exported as unknown as HttpRoute<T>);
    }
  });
  const names = new Set<string>();
  for (const route of routes) {
    if (names.has(route.name)) throw new Error(`Two function modules in ${dir} use the name "${route.name}"`);
    names.add(route.name);
  }
  return routes;
}

/**
 * Runs `load` with the library's test-mode notices filtered out of `console.warn` and
 * `console.debug`. Why: outside the Functions host `app.http` prints one warning per route that
 * says it registered nothing, and `app.setup` announces HTTP streaming; the local stack expects
 * exactly that and serves the routes itself, so the lines are noise that would bury the ready
 * banner. Every other message passes through, and the originals are restored.
 */
function withoutTestModeWarnings(load: () => void): void {
  const { warn, debug } = console;
  const filtered =
    (original: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      const first = args[0];
      if (typeof first === 'string' && TEST_MODE_WARNINGS.some((w) => first.includes(w))) return;
      original.apply(console, args);
    };
  console.warn = filtered(warn);
  console.debug = filtered(debug);
  try {
    load();
  } finally {
    console.warn = warn;
    console.debug = debug;
  }
}
