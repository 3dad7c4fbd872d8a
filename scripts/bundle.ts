/**
 * `npm run bundle`: the deployable Function App in `dist/app/`, for a short cold start.
 *
 *   npm run bundle [-- --out-dir DIR]
 *
 * What it writes (docs/cold-start.md explains the choices):
 *
 *   main.js       `functions/index.ts` (`package.json` `main`), which registers the whole route
 *                 table, in ONE esbuild bundle: the worker builds one set of services (one policy
 *                 cache, one refresh timer) shared by every route.
 *   audit-worker.js  the audit writer's thread, which main.js starts from its own folder.
 *   cli.js        the gateway CLI (`node cli.js apply -f policies.yaml --url ...`), so a deployment
 *                 seeds policies with the code it publishes.
 *   *.map         external source maps; `*.LEGAL.txt`: the bundled packages' license comments.
 *   package.json  `main`, `engines` and, as `dependencies`, only the shipped externals below at
 *                 their installed versions: `npm install --omit=dev` in the folder completes it.
 *   host.json     copied: with it the folder is the whole deployable app.
 *
 * Everything else (`@azure/functions`, `@azure/cosmos`, jsonwebtoken, jwks-rsa, undici, zod, ...)
 * is inlined. The dev-only local stack (`@vercel/cosmosdb-server`, `selfsigned`) is not reachable
 * from `functions/`, so it never lands in `main.js`; the bundler fails if it ever does.
 */
import { build, type BuildOptions, type BuildResult, type Metafile } from 'esbuild';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { extname, join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

/** The repository root, from `scripts/` (ts-jest) or `dist/scripts/` (compiled). */
export const ROOT = resolve(__dirname, extname(__filename) === '.js' ? '../..' : '..');

/** Where `npm run bundle` writes: below `dist/`, with the rest of the build output. */
export const DEFAULT_OUT_DIR = join(ROOT, 'dist', 'app');

/** Provided by the Functions host inside its Node worker; never in `node_modules`. */
export const HOST_PROVIDED = ['@azure/functions-core'] as const;

/**
 * Loaded on demand only, by a dynamic `import()` on the path that needs them, so they stay real
 * modules in the package's `node_modules` instead of being parsed on every cold start:
 * `@azure/identity` (Cosmos DB without a key, managed identity downstreams, Entra-authenticated
 * telemetry), `@azure/msal-node` (on-behalf-of downstreams), `@azure/monitor-opentelemetry`
 * (only with `APPLICATIONINSIGHTS_CONNECTION_STRING`), `@redis/client` and `@redis/entraid` (only
 * with `REDIS_URL`; Entra ID authentication to Azure Managed Redis).
 */
export const LAZY_CLIENTS = [
  '@azure/identity',
  '@azure/msal-node',
  '@azure/monitor-opentelemetry',
  '@redis/client',
  '@redis/entraid',
] as const;

/**
 * Loaded at start but kept external on purpose: the OpenTelemetry API holds its global meter
 * provider per copy of the package, and `@azure/monitor-opentelemetry` registers the provider
 * through its own dependency on it. One shared, deduplicated copy in `node_modules` is what lets
 * the gateway's metrics reach Azure Monitor.
 */
export const SHARED_SINGLETONS = ['@opentelemetry/api'] as const;

/** Every external the package ships in its `node_modules`. */
export const SHIPPED: readonly string[] = [...LAZY_CLIENTS, ...SHARED_SINGLETONS];

/** Packages that exist for the local stack and tests; the app bundle must never contain them. */
export const DEV_ONLY = ['@vercel/cosmosdb-server', 'selfsigned'] as const;

/** The bundles besides the app's own `main.js`: output name -> entry. */
const EXTRA_ENTRIES: Readonly<Record<string, string>> = {
  cli: 'src/cli/main.ts',
  // The audit writer's thread: main.js starts it from its own folder (src/audit/audit-worker-sink.ts).
  'audit-worker': 'src/audit/audit-worker.ts',
};

/** What {@link bundleApp} built. */
export interface BundleResult {
  outDir: string;
  /** Output file (relative to `outDir`) -> bytes. */
  files: Record<string, number>;
  /** The npm packages inlined into `main.js`. */
  appPackages: string[];
  /** esbuild's warnings, as `file: text`. */
  warnings: string[];
}

/** The Functions app's entry: the same file package.json `main` names, compiled. */
export const APP_ENTRY = 'functions/index.ts';

/** The installed (hoisted) version of a package: what the lock file resolved. */
function installedVersion(root: string, name: string): string {
  const pkg = JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as {
    version: string;
  };
  return pkg.version;
}

/** Options shared by every bundle. */
function commonOptions(root: string): BuildOptions & { metafile: true } {
  return {
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    // Azure runs Node 22; what esbuild emits for it runs on Node 20 too (the tests run there).
    target: 'node22',
    format: 'cjs',
    // Whitespace and syntax only: full minification saves little load time (measured: within
    // noise) and would cost readable names in stack traces and heap snapshots.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    sourcemap: 'external',
    sourcesContent: false,
    legalComments: 'linked',
    external: [...HOST_PROVIDED, ...SHIPPED],
    metafile: true,
    logLevel: 'silent',
    tsconfig: join(root, 'tsconfig.build.json'),
  };
}

/** The package.json of the deployable folder. */
function appPackageJson(root: string): Record<string, unknown> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as Record<string, unknown>;
  return {
    name: pkg.name,
    version: pkg.version,
    description: pkg.description,
    license: pkg.license,
    private: true,
    main: 'main.js',
    engines: pkg.engines,
    dependencies: Object.fromEntries(SHIPPED.map((name) => [name, installedVersion(root, name)])),
  };
}

/** The npm packages a bundle inlined (`node_modules/<name>/` in its metafile's inputs). */
function bundledPackages(metafile: Metafile): Set<string> {
  const names = new Set<string>();
  for (const input of Object.keys(metafile.inputs)) {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (match?.[1]) names.add(match[1]);
  }
  return names;
}

/**
 * Builds the deployable app into `outDir` (emptied first). Fails when `main.js` would inline a
 * dev-only package or one of the externals.
 *
 * @example
 * const { files } = await bundleApp({ outDir: '/tmp/app' });
 */
export async function bundleApp(options: { root?: string; outDir?: string } = {}): Promise<BundleResult> {
  const root = options.root ?? ROOT;
  const outDir = resolve(root, options.outDir ?? DEFAULT_OUT_DIR);
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const common = commonOptions(root);

  const [app, ...extras] = (await Promise.all([
    build({
      ...common,
      entryPoints: [join(root, APP_ENTRY)],
      outfile: join(outDir, 'main.js'),
    }),
    ...Object.entries(EXTRA_ENTRIES).map(([name, entry]) =>
      build({ ...common, entryPoints: [join(root, entry)], outfile: join(outDir, `${name}.js`) }),
    ),
  ])) as [BuildResult<typeof common>, ...BuildResult<typeof common>[]];

  const appPackages = bundledPackages(app.metafile);
  const leaked = [...DEV_ONLY, ...SHIPPED].filter((name) => appPackages.has(name));
  if (leaked.length > 0) throw new Error(`main.js must not inline ${leaked.join(', ')}`);

  writeFileSync(join(outDir, 'package.json'), `${JSON.stringify(appPackageJson(root), null, 2)}\n`);
  copyFileSync(join(root, 'host.json'), join(outDir, 'host.json'));

  const files: Record<string, number> = {};
  for (const result of [app, ...extras]) {
    for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
      files[relative(outDir, resolve(root, file))] = bytes;
    }
  }
  const warnings = [app, ...extras].flatMap((r) =>
    r.warnings.map((w) => `${w.location?.file ?? '(entry)'}: ${w.text}`),
  );
  return { outDir, files, appPackages: [...appPackages].sort(), warnings };
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { 'out-dir': { type: 'string' } } });
  const { outDir, files, appPackages, warnings } = await bundleApp({
    outDir: values['out-dir'] ?? DEFAULT_OUT_DIR,
  });
  for (const warning of warnings) process.stderr.write(`warning ${warning}\n`);
  process.stdout.write(`bundled into ${relative(process.cwd(), outDir) || '.'}\n`);
  for (const [file, bytes] of Object.entries(files).sort(([a], [b]) => a.localeCompare(b))) {
    process.stdout.write(`  ${file.padEnd(18)} ${(bytes / 1024).toFixed(0).padStart(6)} KB\n`);
  }
  process.stdout.write(
    `  main.js inlines ${appPackages.length} packages; external, loaded on demand: ${LAZY_CLIENTS.join(', ')}\n`,
  );
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`bundle failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
