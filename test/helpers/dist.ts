import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root. */
export const ROOT = join(__dirname, '../..');

/** What tsconfig.build.json compiles into dist/. */
const SOURCE_DIRS = ['src', 'functions', 'samples', 'bench', 'scripts', 'loadtest', 'packages'];
const CONFIG_FILES = ['tsconfig.json', 'tsconfig.build.json', 'package.json'];
const STAMP = join(ROOT, 'dist/.sources.sha256');
const LOCK = join(ROOT, 'dist/.build.lock');
/** A lock older than this is a build that died: taken over. */
const STALE_LOCK_MS = 5 * 60_000;

/** SHA-256 over every source file's path and content: what dist/ was built from. */
function sourceHash(): string {
  const hash = createHash('sha256');
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) =>
      a.name < b.name ? -1 : 1,
    )) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'dist' && entry.name !== 'node_modules') walk(path);
      } else if (/\.(ts|js|json|yaml)$/.test(entry.name)) hash.update(`${path}\n`).update(readFileSync(path));
    }
  };
  for (const dir of SOURCE_DIRS) walk(join(ROOT, dir));
  for (const file of CONFIG_FILES) hash.update(readFileSync(join(ROOT, file)));
  return hash.digest('hex');
}

/** Blocks this worker for `ms` (a build lock held by another jest worker). */
function pause(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds `dist/` before a test runs what is built, unless it was built from exactly these
 * sources: such a test never runs stale code and never passes by finding nothing to run. One
 * build at a time across jest workers (a lock directory).
 *
 * @throws when the build fails: the test fails with the compiler's output
 */
export function ensureBuilt(): void {
  mkdirSync(join(ROOT, 'dist'), { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      if (Date.now() - statSync(LOCK).mtimeMs > STALE_LOCK_MS) rmSync(LOCK, { recursive: true, force: true });
      else pause(200);
    }
  }
  try {
    const hash = sourceHash();
    if (existsSync(STAMP) && readFileSync(STAMP, 'utf8') === hash) return;
    const result = spawnSync(
      process.execPath,
      [require.resolve('typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: ROOT, encoding: 'utf8' },
    );
    if (result.status !== 0) {
      throw new Error(`npm run build failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
    }
    writeFileSync(STAMP, hash);
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Runs an ESM test file of `test/esm/` under `node --test` against the built `dist/` (the
 * clients it uses are ESM-only, which jest cannot load here) and fails unless every one of its
 * `tests` tests passed.
 */
export function runEsmTests(file: string, tests: number): void {
  ensureBuilt();
  const result = spawnSync(process.execPath, ['--test', join(ROOT, 'test/esm', file)], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (result.status !== 0) throw new Error(`node --test ${file} failed:\n${result.stdout}\n${result.stderr}`);
  if (!result.stdout.includes(`# pass ${tests}\n`) || !result.stdout.includes('# fail 0\n')) {
    throw new Error(`node --test ${file}: expected ${tests} passing tests:\n${result.stdout}`);
  }
}
