#!/usr/bin/env node
/**
 * `node scripts/run-built.mjs [node options] <entry below dist/> [arguments]`: what the npm
 * helpers (`npm start`, `npm run token`, `npm run gateway`, ...) run. It builds only when a source
 * is newer than the build, says so on stderr when it does, then runs the compiled entry with the
 * arguments, passing Ctrl-C and SIGTERM on and exiting with its code.
 *
 * Why not `npm run build && node dist/...` as before: a full `tsc` took 20-27 s here, so every
 * helper did, though nothing had changed. Why mtimes and not a hash of every source: the check
 * runs before every command and must cost milliseconds; tsc rewrites every output on a build, so
 * an output older than a source means that source changed since. Plain JavaScript, so it runs
 * before anything is compiled.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
/** What tsconfig.build.json compiles, and the configs themselves. */
const SOURCE_DIRS = ['src', 'functions', 'samples', 'bench', 'scripts', 'loadtest', 'packages'];
const CONFIGS = ['tsconfig.json', 'tsconfig.build.json'];

/** The newest TypeScript source (or config) and its mtime. */
function newestSource() {
  let newest = { file: '', mtimeMs: 0 };
  const consider = (file) => {
    const { mtimeMs } = statSync(file);
    if (mtimeMs > newest.mtimeMs) newest = { file, mtimeMs };
  };
  const walk = (dir) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== 'dist' && entry.name !== 'node_modules') walk(path);
      } else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) consider(path);
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(join(ROOT, dir))) walk(join(ROOT, dir));
  for (const config of CONFIGS) consider(join(ROOT, config));
  return newest;
}

/** Why the build must run first, or undefined when `dist/<entry>` is current. */
export function staleReason(entry) {
  const output = join(ROOT, 'dist', entry);
  if (!existsSync(output)) return 'no build yet';
  const source = newestSource();
  return source.mtimeMs > statSync(output).mtimeMs
    ? `${relative(ROOT, source.file)} changed since the last build`
    : undefined;
}

function main(argv) {
  const nodeOptions = [];
  while (argv[0]?.startsWith('--')) nodeOptions.push(argv.shift());
  const [entry, ...args] = argv;
  if (entry === undefined) {
    process.stderr.write(
      'usage: node scripts/run-built.mjs [node options] <entry below dist/> [arguments]\n',
    );
    process.exit(2);
  }
  const reason = staleReason(entry);
  if (reason !== undefined) {
    process.stderr.write(`building (${reason})...\n`);
    const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
    const build = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: 'inherit',
    });
    if (build.status !== 0) process.exit(build.status ?? 1);
  }
  const child = spawn(process.execPath, [...nodeOptions, join(ROOT, 'dist', entry), ...args], {
    stdio: 'inherit',
  });
  // Ctrl-C reaches the child with the terminal's process group: passing it on would be a second
  // Ctrl-C, which the local stack takes for "stop now". A SIGTERM sent to this process alone (a
  // supervisor, `kill`) is passed on. Either way this process waits for the child's exit.
  process.on('SIGINT', () => undefined);
  process.on('SIGTERM', () => child.kill('SIGTERM'));
  child.on('exit', (code, signal) =>
    process.exit(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0))),
  );
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main(process.argv.slice(2));
