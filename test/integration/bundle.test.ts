/**
 * The deployable bundle (scripts/bundle.ts): built into a temp folder, then loaded in a child
 * process the way the Functions host loads it, with a stand-in `@azure/functions-core` that
 * records registrations. Proves every route of the route table registers from the one bundle, that
 * loading it (and answering a request) does not load the lazily imported clients, and that the
 * dev-only local stack stays out of it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareHostlessApp } from '../../bench/cold-start';
import { bundleApp, LAZY_CLIENTS, SHIPPED, type BundleResult } from '../../scripts/bundle';
import { generateStatementKey, statementKeySetting } from '../../src/config/signing-keys';
import { ROUTES } from '../../src/routes';

// The same stand-in for the host's module, for loading the sources in this process.
jest.mock(
  '@azure/functions-core',
  () => ({ registerFunction: jest.fn(), setProgrammingModel: jest.fn(), log: jest.fn() }),
  { virtual: true },
);

interface Registration {
  name: string;
  route: string;
  methods: string[];
  authLevel: string;
}

interface ChildReport {
  registrations: Registration[];
  /** Packages loaded by requiring the bundle (stand-ins record their own loading). */
  loadedByRequire: string[];
  /** ... and after the health route answered a request. */
  loadedByRequest: string[];
  health: { status: number; code: string };
}

/**
 * Runs in the bundle's folder: requires main.js, lets queued work run, then calls the registered
 * health handler as the host would. Both runs below fail closed (503) before any network I/O.
 */
const CHILD = `
const core = require('@azure/functions-core');
require('./main.js');
const loaded = () => [...(globalThis.__lazyLoaded ?? [])];
setImmediate(async () => {
  const loadedByRequire = loaded();
  const registrations = core.registered.map(({ metadata }) => {
    const trigger = Object.values(metadata.bindings).find((b) => b.type === 'httpTrigger');
    return { name: metadata.name, route: trigger.route, methods: trigger.methods, authLevel: trigger.authLevel };
  });
  const health = core.registered.find((r) => r.metadata.name === 'health');
  const context = { error() {}, warn() {}, log() {}, info() {}, debug() {}, trace() {}, invocationId: 'test' };
  const response = await health.handler({ headers: new Headers(), method: 'GET', url: 'http://localhost/api/health' }, context);
  const body = typeof response.body === 'string' ? JSON.parse(response.body) : response.jsonBody;
  process.stdout.write(JSON.stringify({
    registrations, loadedByRequire, loadedByRequest: loaded(),
    health: { status: response.status, code: body && body.code },
  }));
  process.exit(0);
});
`;

describe('scripts/bundle.ts', () => {
  let work: string;
  let summary: BundleResult;
  let bundleText: string;
  let report: ChildReport;
  let withoutCosmosKey: ChildReport;

  /** Loads the bundle in a child with exactly `settings` as its environment. */
  const loadBundle = (settings: Record<string, string>): ChildReport => {
    const env = { PATH: process.env.PATH ?? '', ...settings };
    const child = spawnSync(process.execPath, ['-e', CHILD], { cwd: summary.outDir, env, encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`loading the bundle failed: ${child.stderr}`);
    return JSON.parse(child.stdout) as ChildReport;
  };

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'bundle-'));
    summary = await bundleApp({ outDir: join(work, 'app') });
    bundleText = readFileSync(join(summary.outDir, 'main.js'), 'utf8');
    prepareHostlessApp(summary.outDir, LAZY_CLIENTS);
    // No settings: the gateway refuses its configuration.
    report = loadBundle({});
    // Valid settings without COSMOS_KEY: the managed identity path must import @azure/identity
    // from the package's node_modules (the stand-in has no DefaultAzureCredential, so start fails).
    withoutCosmosKey = loadBundle({
      ENTRA_AUTHORITY: 'http://127.0.0.1:1',
      ENTRA_TENANT_ID: '11111111-1111-1111-1111-111111111111',
      ENTRA_AUDIENCES: 'api://gateway',
      COSMOS_ENDPOINT: 'https://127.0.0.1:1',
      DOWNSTREAM_ALLOWED_HOSTS: '127.0.0.1',
      SAS_SIGNING_KEYS: `k1=${Buffer.alloc(32, 1).toString('base64')}`,
      STATEMENT_SIGNING_KEYS: statementKeySetting([generateStatementKey('s1')]),
    });
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('writes a complete deployable folder: bundles, maps, host.json and a package.json naming main.js', () => {
    expect(Object.keys(summary.files)).toEqual(
      expect.arrayContaining(['main.js', 'main.js.map', 'cli.js', 'cli.js.map', 'audit-worker.js']),
    );
    expect(readdirSync(summary.outDir)).toEqual(expect.arrayContaining(['host.json', 'package.json']));
    const pkg = JSON.parse(readFileSync(join(summary.outDir, 'package.json'), 'utf8')) as {
      main: string;
      dependencies: Record<string, string>;
    };
    expect(pkg.main).toBe('main.js');
    // Only the externals are dependencies, pinned to what is installed; never the host's module.
    expect(Object.keys(pkg.dependencies).sort()).toEqual([...SHIPPED].sort());
    expect(pkg.dependencies).not.toHaveProperty('@azure/functions-core');
    expect(summary.warnings).toEqual([]);
  });

  it('registers every route of the route table, as the sources do, from one bundle', () => {
    const expected = ROUTES.map((route) => ({
      name: route.name,
      route: route.template,
      methods: [...route.methods],
      authLevel: 'anonymous',
    }));
    expect(report.registrations).toEqual(expected);
  });

  it('serves a request through the shared gateway (503 ERR_CONFIG_INVALID without settings)', () => {
    expect(report.health).toEqual({ status: 503, code: 'ERR_CONFIG_INVALID' });
  });

  it('does not load the rarely used clients on start or on a request', () => {
    expect(LAZY_CLIENTS).toEqual(
      expect.arrayContaining(['@azure/identity', '@azure/msal-node', '@azure/monitor-opentelemetry']),
    );
    expect(report.loadedByRequire).toEqual([]);
    expect(report.loadedByRequest).toEqual([]);
    expect(withoutCosmosKey.loadedByRequire).toEqual([]);
  });

  it('loads @azure/identity from the package on the path that needs it (Cosmos DB without a key)', () => {
    expect(withoutCosmosKey.loadedByRequest).toEqual(['@azure/identity']);
    expect(withoutCosmosKey.health).toEqual({ status: 503, code: 'ERR_CONFIG_INVALID' });
  });

  it.each(['@azure/identity', '@azure/msal-node', '@azure/monitor-opentelemetry'])(
    'keeps %s external, reached only through a dynamic import',
    (name) => {
      expect(summary.appPackages).not.toContain(name);
      const quoted = new RegExp(`["'\`]${name.replace('/', '\\/')}["'\`]`, 'g');
      const dynamic = new RegExp(`\\bimport\\(["'\`]${name.replace('/', '\\/')}["'\`]\\)`, 'g');
      expect(bundleText.match(quoted)?.length ?? 0).toBe(bundleText.match(dynamic)?.length ?? 0);
      expect(bundleText).not.toMatch(new RegExp(`require\\(["'\`]${name.replace('/', '\\/')}`));
    },
  );

  it('ships a self-contained CLI (the deploy script seeds policies with it)', () => {
    const run = spawnSync(process.execPath, [join(summary.outDir, 'cli.js')], {
      cwd: tmpdir(),
      env: { PATH: process.env.PATH ?? '' },
      encoding: 'utf8',
    });
    expect(run.stderr + run.stdout).toMatch(/^usage: /m);
    expect(run.status).toBe(2);
  });

  it.each(['@vercel/cosmosdb-server', 'selfsigned'])('leaves the dev-only %s out of main.js', (name) => {
    expect(summary.appPackages).not.toContain(name);
    expect(bundleText).not.toContain(name);
  });
});
