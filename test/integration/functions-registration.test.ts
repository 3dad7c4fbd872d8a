import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * Proves that every functions/*.ts registers its route with the real `app.http`, by standing in
 * for the one module the Functions host provides: `@azure/functions` looks it up lazily
 * (tryGetCoreApiLazy) and, when present, hands it each function's metadata.
 */
// `log` marks a host new enough for HTTP streaming (v4.28+), which functions/proxy.ts turns on.
jest.mock(
  '@azure/functions-core',
  () => ({ registerFunction: jest.fn(), setProgrammingModel: jest.fn(), log: jest.fn() }),
  { virtual: true },
);

/** The contract's routes implemented so far: adding a function file without a row here fails. */
const EXPECTED = [
  { file: 'audit.ts', name: 'audit', route: 'audit', methods: ['GET'] },
  { file: 'authorize.ts', name: 'authorize', route: 'authorize', methods: ['POST'] },
  { file: 'health.ts', name: 'health', route: 'health', methods: ['GET'] },
  { file: 'policies.ts', name: 'policies', route: 'policies/{id?}', methods: ['GET', 'PUT', 'DELETE'] },
  {
    file: 'proxy.ts',
    name: 'proxy',
    route: 'proxy/{resource}/{*path}',
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'],
  },
  { file: 'resources.ts', name: 'resources', route: 'resources/{name?}', methods: ['GET', 'PUT', 'DELETE'] },
  { file: 'revocations.ts', name: 'revocations', route: 'revocations', methods: ['POST'] },
  { file: 'token.ts', name: 'token', route: 'token', methods: ['POST'] },
];

interface HttpTriggerBinding {
  type: string;
  direction: string;
  route: string;
  methods: string[];
  authLevel: string;
}

interface FunctionModule {
  route: { name: string; route: string; methods: string[] };
}

const FUNCTIONS_DIR = join(__dirname, '..', '..', 'functions');

describe('functions/*.ts registrations', () => {
  const registered = new Map<string, { binding: HttpTriggerBinding; handler: unknown }>();
  const modules = new Map<string, FunctionModule>();
  const files = readdirSync(FUNCTIONS_DIR)
    .filter((f) => f.endsWith('.ts'))
    .sort();

  beforeAll(() => {
    const core = jest.requireMock<{ registerFunction: jest.Mock }>('@azure/functions-core');
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading each file is the point
    for (const file of files) modules.set(file, require(join(FUNCTIONS_DIR, file)) as FunctionModule);
    for (const [metadata, handler] of core.registerFunction.mock.calls as [
      { name: string; bindings: Record<string, HttpTriggerBinding> },
      unknown,
    ][]) {
      const binding = Object.values(metadata.bindings).find((b) => b.type === 'httpTrigger');
      if (binding) registered.set(metadata.name, { binding, handler });
    }
  });

  it('every functions file is in the table, and every row has a file', () => {
    expect(files).toEqual(EXPECTED.map((e) => e.file).sort());
  });

  it('registers exactly the table', () => {
    expect([...registered.keys()].sort()).toEqual(EXPECTED.map((e) => e.name).sort());
  });

  it.each(EXPECTED)(
    '$file registers $name: $methods /api/$route, anonymous',
    ({ file, name, route, methods }) => {
      const entry = registered.get(name);
      expect(entry).toBeDefined();
      expect(entry!.binding).toMatchObject({ direction: 'in', route, methods, authLevel: 'anonymous' });
      expect(typeof entry!.handler).toBe('function');
      const exported = modules.get(file)!.route;
      expect({ name: exported.name, route: exported.route, methods: exported.methods }).toEqual({
        name,
        route,
        methods,
      });
    },
  );
});
