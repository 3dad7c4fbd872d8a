import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { AnyRoute } from '../../src/pipeline/operation';

/**
 * Proves that functions/index.ts (package.json `main`) registers every route of the route table
 * with the real `app.http`, by standing in for the one module the Functions host provides:
 * `@azure/functions` looks it up lazily (tryGetCoreApiLazy) and, when present, hands it each
 * function's metadata.
 */
// `log` marks a host new enough for HTTP streaming (v4.28+), which functions/index.ts turns on.
jest.mock(
  '@azure/functions-core',
  () => ({
    registerFunction: jest.fn(),
    registerHook: jest.fn(),
    setProgrammingModel: jest.fn(),
    log: jest.fn(),
  }),
  { virtual: true },
);

/** The routes of docs/reference.md §4: adding a route to the table without a row here fails. */
const EXPECTED = [
  { name: 'audit', route: 'audit', methods: ['GET'] },
  { name: 'authorize', route: 'authorize', methods: ['POST'] },
  { name: 'health', route: 'health', methods: ['GET'] },
  { name: 'policies', route: 'policies/{id?}', methods: ['GET', 'PUT', 'DELETE'] },
  {
    name: 'proxy',
    route: 'proxy/{resource}/{*path}',
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
  },
  { name: 'resources', route: 'resources/{name?}', methods: ['GET', 'PUT', 'DELETE'] },
  { name: 'revocations', route: 'revocations', methods: ['POST'] },
  { name: 'token', route: 'token', methods: ['POST'] },
  { name: 'jwks', route: '.well-known/jwks.json', methods: ['GET'] },
  { name: 'openid-configuration', route: '.well-known/openid-configuration', methods: ['GET'] },
  { name: 'oauth-authorization-server', route: '.well-known/oauth-authorization-server', methods: ['GET'] },
  { name: 'openapi', route: 'openapi.json', methods: ['GET'] },
];

interface HttpTriggerBinding {
  type: string;
  direction: string;
  route: string;
  methods: string[];
  authLevel: string;
}

const FUNCTIONS_DIR = join(__dirname, '..', '..', 'functions');

describe('functions/index.ts registrations', () => {
  const registered = new Map<string, { binding: HttpTriggerBinding; handler: unknown }>();
  let hostLog: jest.Mock;
  let routes: readonly AnyRoute[];

  beforeAll(() => {
    const core = jest.requireMock<{ registerFunction: jest.Mock; log: jest.Mock }>('@azure/functions-core');
    hostLog = core.log;
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading the entry is the point
    require(join(FUNCTIONS_DIR, 'index.ts'));
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- the same module registry
    routes = (require('../../src/routes') as { ROUTES: readonly AnyRoute[] }).ROUTES;
    for (const [metadata, handler] of core.registerFunction.mock.calls as [
      { name: string; bindings: Record<string, HttpTriggerBinding> },
      unknown,
    ][]) {
      const binding = Object.values(metadata.bindings).find((b) => b.type === 'httpTrigger');
      if (binding) registered.set(metadata.name, { binding, handler });
    }
  });

  it('functions/ holds the one entry that package.json names', () => {
    expect(readdirSync(FUNCTIONS_DIR).filter((f) => f.endsWith('.ts'))).toEqual(['index.ts']);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    expect((require('../../package.json') as { main: string }).main).toBe('dist/functions/index.js');
  });

  it('turns HTTP streaming on before registering (app.setup)', () => {
    expect(hostLog).toHaveBeenCalledWith('debug', 'system', 'HTTP streaming enabled.');
  });

  it("stops the services on the host's graceful stop (the appTerminate hook), which writes the queued audit records", async () => {
    const core = jest.requireMock<{ registerHook: jest.Mock }>('@azure/functions-core');
    const hooks = core.registerHook.mock.calls.filter(([name]) => name === 'appTerminate');
    expect(hooks).toHaveLength(1);
    // Nothing started yet: the hook resolves without building anything.
    const hook = hooks[0]![1] as (context: object) => Promise<void>;
    await expect(hook({ hookData: {} })).resolves.toBeUndefined();
  });

  it('registers exactly the table', () => {
    expect([...registered.keys()].sort()).toEqual(EXPECTED.map((e) => e.name).sort());
  });

  it.each(EXPECTED)('registers $name: $methods /api/$route, anonymous', ({ name, route, methods }) => {
    const entry = registered.get(name);
    expect(entry).toBeDefined();
    expect(entry!.binding).toMatchObject({ direction: 'in', route, methods, authLevel: 'anonymous' });
    expect(typeof entry!.handler).toBe('function');
    const declared = routes.find((r) => r.name === name)!;
    expect({ name: declared.name, route: declared.template, methods: declared.methods }).toEqual({
      name,
      route,
      methods,
    });
  });
});
