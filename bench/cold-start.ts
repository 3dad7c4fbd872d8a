/**
 * Cold start, one run, fresh child processes (2 cores here; docs/cold-start.md has the figures):
 * - module load: the time `require` takes for the deployable bundle (scripts/bundle.ts, built
 *   into a temp folder), with a stand-in `@azure/functions-core` so every route registers as
 *   under the Functions host; against the floor any gateway on this stack pays, a bare
 *   `require('@azure/functions'); require('@azure/cosmos')`, and against the unbundled
 *   `dist/functions/index.js`. RUNS alternating runs each after one warm-up round; medians; target:
 *   bundle under 1.3x the floor.
 * - local stack: from spawning a process that starts the local stack (ephemeral ports, embedded
 *   Cosmos DB and identity provider) to its gateway listening, and to the first 200 from
 *   `/api/health`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { bundleApp, ROOT, SHIPPED } from '../scripts/bundle';
import { SETTING_NAMES } from '../src/config/defaults';
import { ROUTES } from '../src/routes';

const RUNS = 7;
const STACK_RUNS = 3;
const TARGET_RATIO = 1.3;
/** Longest the local stack may take to answer (docs/reference.md §1 promises a listening gateway within 30 s). */
const STACK_TIMEOUT_MS = 30_000;

/**
 * A stand-in for the module the Functions host injects into its Node worker: `@azure/functions`
 * finds it, switches out of test mode and hands it every registration, which it records.
 * `log` marks a host new enough for HTTP streaming, which functions/index.ts turns on.
 */
const FAKE_FUNCTIONS_CORE = `'use strict';
const registered = [];
module.exports = {
  registered,
  setProgrammingModel(model) { module.exports.programmingModel = model; },
  registerFunction(metadata, handler) { registered.push({ metadata, handler }); return { dispose() {} }; },
  registerHook() { return { dispose() {} }; },
  log() {},
};
`;

/** A stand-in for a lazily loaded package that records, in `globalThis.__lazyLoaded`, that it was loaded. */
const recordingModule = (name: string) => `'use strict';
(globalThis.__lazyLoaded ??= []).push(${JSON.stringify(name)});
`;

function writePackage(nodeModules: string, name: string, source: string): void {
  const dir = join(nodeModules, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name, version: '0.0.0', main: 'index.js' }));
  writeFileSync(join(dir, 'index.js'), source);
}

/**
 * Makes a bundled app folder loadable as the Functions host would load it: the recording
 * `@azure/functions-core` in its `node_modules`, and every shipped external linked from the
 * repository's `node_modules` (what `npm install --omit=dev` would put there), except those
 * named in `recordLoads`, which become stand-ins that record being loaded.
 *
 * @returns the folder's `node_modules` (for `NODE_PATH`, so unbundled code finds the stand-in too)
 */
export function prepareHostlessApp(appDir: string, recordLoads: readonly string[] = []): string {
  const nodeModules = join(appDir, 'node_modules');
  writePackage(nodeModules, '@azure/functions-core', FAKE_FUNCTIONS_CORE);
  for (const name of SHIPPED) {
    if (recordLoads.includes(name)) {
      writePackage(nodeModules, name, recordingModule(name));
    } else {
      mkdirSync(dirname(join(nodeModules, name)), { recursive: true });
      symlinkSync(join(ROOT, 'node_modules', name), join(nodeModules, name), 'dir');
    }
  }
  return nodeModules;
}

/** Child script: times `require` of every module in BENCH_MODULES, reports ms and registrations. */
const LOAD_SCRIPT = `
const { performance } = require('node:perf_hooks');
const modules = JSON.parse(process.env.BENCH_MODULES);
const started = performance.now();
for (const m of modules) require(m);
const ms = performance.now() - started;
let registered = 0;
try { registered = require('@azure/functions-core').registered.length; } catch {}
process.stdout.write(JSON.stringify({ ms, registered }));
process.exit(0);
`;

interface LoadSample {
  ms: number;
  registered: number;
}

function timeLoad(modules: readonly string[], cwd: string, nodePath: string): LoadSample {
  const result = spawnSync(process.execPath, ['-e', LOAD_SCRIPT], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, NODE_PATH: nodePath, BENCH_MODULES: JSON.stringify(modules) },
  });
  if (result.status !== 0) throw new Error(`loading ${modules.join(', ')} failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as LoadSample;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const round = (ms: number) => Math.round(ms * 10) / 10;

/** Module load of the bundle, the floor and the unbundled dist/, alternating, medians. */
function benchModuleLoad(appDir: string, nodeModules: string): Record<string, number | string> {
  const variants = {
    floor: [require.resolve('@azure/functions'), require.resolve('@azure/cosmos')],
    bundle: [join(appDir, 'main.js')],
    dist: [join(ROOT, 'dist/functions/index.js')],
  };
  const samples: Record<keyof typeof variants, number[]> = { floor: [], bundle: [], dist: [] };
  for (let run = 0; run <= RUNS; run++) {
    for (const [name, modules] of Object.entries(variants) as [keyof typeof variants, string[]][]) {
      const sample = timeLoad(modules, appDir, nodeModules);
      if (name !== 'floor' && sample.registered !== ROUTES.length) {
        throw new Error(`${name}: ${sample.registered} functions registered, expected ${ROUTES.length}`);
      }
      // Run 0 warms the file system cache for every variant alike.
      if (run > 0) samples[name].push(sample.ms);
    }
  }
  const floor = median(samples.floor);
  const bundle = median(samples.bundle);
  const dist = median(samples.dist);
  const ratio = Math.round((bundle / floor) * 100) / 100;
  return {
    'load floor: @azure/functions + @azure/cosmos (ms, median)': round(floor),
    'load bundle main.js, all routes registered (ms, median)': round(bundle),
    'load dist/functions/index.js unbundled (ms, median)': round(dist),
    'bundle / floor': `${ratio}x (target < ${TARGET_RATIO}x: ${ratio < TARGET_RATIO ? 'met' : 'MISSED'})`,
  };
}

/** Spawns a local stack and times its gateway listening and first 200 from /api/health. */
async function timeLocalStack(): Promise<{ listening: number; healthy: number }> {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Every embedded default, whatever the developer's shell holds.
  for (const name of SETTING_NAMES) delete env[name];
  const started = performance.now();
  const child = spawn(process.execPath, [join(__dirname, `cold-start-stack${extname(__filename)}`)], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  try {
    const url = await new Promise<string>((found, failed) => {
      let out = '';
      const timer = setTimeout(
        () => failed(new Error(`local stack not listening: ${stderr}`)),
        STACK_TIMEOUT_MS,
      );
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        const line = /^(http:\/\/\S+)\n/m.exec(out);
        if (line) {
          clearTimeout(timer);
          found(line[1]!);
        }
      });
      child.once('exit', (code) => failed(new Error(`local stack exited with ${code}: ${stderr}`)));
    });
    const listening = performance.now() - started;
    for (;;) {
      const status = await fetch(`${url}/api/health`).then(
        (res) => res.arrayBuffer().then(() => res.status),
        () => 0,
      );
      if (status === 200) return { listening, healthy: performance.now() - started };
      if (performance.now() - started > STACK_TIMEOUT_MS) throw new Error(`health stayed ${status}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(killer);
  }
}

/** `npm run bench`: module load of the deployable bundle against the floor, and local stack start-up. */
export async function benchColdStart(): Promise<Record<string, number | string>> {
  const work = mkdtempSync(join(tmpdir(), 'cold-start-'));
  try {
    const { outDir: appDir, files } = await bundleApp({ outDir: join(work, 'app') });
    const nodeModules = prepareHostlessApp(appDir);
    const results: Record<string, number | string> = {
      'bundle main.js (KB)': Math.round((files['main.js'] ?? 0) / 1024),
      ...benchModuleLoad(appDir, nodeModules),
    };
    const stack: { listening: number; healthy: number }[] = [];
    for (let run = 0; run < STACK_RUNS; run++) stack.push(await timeLocalStack());
    results['local stack: spawn -> gateway listening (ms, median)'] = Math.round(
      median(stack.map((s) => s.listening)),
    );
    results['local stack: spawn -> first 200 /api/health (ms, median)'] = Math.round(
      median(stack.map((s) => s.healthy)),
    );
    return results;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
