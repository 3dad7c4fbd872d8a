/**
 * How the source files fit together (docs/architecture.md): imports flow one way, host → routes
 * → pipeline → domain → core, nothing in `src/` imports `functions/`, `samples/` or a test, and
 * no import cycle exists anywhere in `src/`. Read from the sources with TypeScript's own import
 * scanner, so a new file is checked the day it is added.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import * as ts from 'typescript';

const ROOT = join(__dirname, '../..');
const SRC = join(ROOT, 'src');

/** The layers, lowest first; a file may import its own layer or a lower one. */
const LAYERS = ['core', 'domain', 'pipeline', 'routes', 'host'] as const;
type Layer = (typeof LAYERS)[number];

/** The layer of a file below `src/`, by its first path segment (or file name at the top). */
export function layerOf(file: string): Layer {
  const path = relative(SRC, file).replace(/\\/g, '/');
  const top = path.includes('/') ? path.slice(0, path.indexOf('/')) : path.replace(/\.ts$/, '');
  switch (top) {
    case 'errors':
    case 'clock':
    case 'logger':
    case 'random':
    case 'config':
    case 'http':
      return 'core';
    case 'pipeline':
    case 'services':
      return 'pipeline';
    case 'routes':
      return 'routes';
    case 'host':
    case 'cli':
      return 'host';
    default:
      return 'domain';
  }
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Every relative import of a file (static, type-only and dynamic alike), resolved to a file. */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => {
      const base = resolve(dirname(file), name);
      for (const candidate of [`${base}.ts`, join(base, 'index.ts'), base]) {
        if (candidate.endsWith('.ts') && allFiles.has(candidate)) return candidate;
      }
      return base;
    });
}

const files = sourceFiles(SRC);
const allFiles = new Set([
  ...files,
  ...sourceFiles(join(ROOT, 'functions')),
  ...sourceFiles(join(ROOT, 'samples')),
]);
const graph = new Map(files.map((file) => [file, importsOf(file)]));
const rel = (file: string) => relative(ROOT, file).replace(/\\/g, '/');

/** Strongly connected components with more than one node (or a self-edge): Tarjan. */
function cyclesOf(graph: ReadonlyMap<string, readonly string[]>, name: (node: string) => string): string[][] {
  let index = 0;
  const stack: string[] = [];
  const onStack = new Set<string>();
  const indices = new Map<string, number>();
  const low = new Map<string, number>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    indices.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!indices.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, indices.get(w)!));
    }
    if (low.get(v) === indices.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(name(w));
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component.sort());
    }
  };
  for (const file of graph.keys()) if (!indices.has(file)) visit(file);
  return found;
}

const cycles = (): string[][] => cyclesOf(graph, rel);

/**
 * The folder of a file below `src/`: its first path segment (`policy`, `auth`, ...), `host/local`
 * for the local host, or the file itself at the top (`errors.ts`).
 */
export function folderOf(file: string): string {
  const path = relative(SRC, file).replace(/\\/g, '/');
  if (path.startsWith('host/local/')) return 'host/local';
  return path.includes('/') ? path.slice(0, path.indexOf('/')) : path;
}

/** Folder → the folders its files import (inside src/), with the files that make each edge. */
function folderGraph(): { graph: Map<string, string[]>; why: Map<string, string[]> } {
  const edges = new Map<string, Set<string>>();
  const why = new Map<string, string[]>();
  for (const [file, imports] of graph) {
    const from = folderOf(file);
    if (!edges.has(from)) edges.set(from, new Set());
    for (const target of imports) {
      if (!target.startsWith(SRC)) continue;
      const to = folderOf(target);
      if (to === from) continue;
      edges.get(from)!.add(to);
      const key = `${from} -> ${to}`;
      why.set(key, [...(why.get(key) ?? []), `${rel(file)} imports ${rel(target)}`]);
    }
  }
  return { graph: new Map([...edges].map(([k, v]) => [k, [...v]])), why };
}

describe('architecture of src/', () => {
  it('has no import cycle', () => {
    expect(cycles()).toEqual([]);
  });

  it('has no cycle between folders either: each folder depends on others one way', () => {
    const { graph: folders, why } = folderGraph();
    const found = cyclesOf(folders, (f) => f);
    // Name the imports that close each cycle, so the message says what to move.
    const detail = found.map((cycle) =>
      [...why].filter(([edge]) => cycle.some((a) => cycle.some((b) => a !== b && edge === `${a} -> ${b}`))),
    );
    expect(detail).toEqual([]);
  });

  it('imports flow one way: host → routes → pipeline → domain → core', () => {
    const upward: string[] = [];
    for (const [file, imports] of graph) {
      for (const target of imports) {
        if (!target.startsWith(SRC)) continue;
        if (LAYERS.indexOf(layerOf(target)) > LAYERS.indexOf(layerOf(file))) {
          upward.push(`${rel(file)} (${layerOf(file)}) imports ${rel(target)} (${layerOf(target)})`);
        }
      }
    }
    expect(upward).toEqual([]);
  });

  it('imports nothing from functions/, samples/, test/ or scripts/ (only src/ and the packages of packages/)', () => {
    const outside: string[] = [];
    const packages = join(SRC, '..', 'packages');
    for (const [file, imports] of graph) {
      for (const target of imports)
        if (!target.startsWith(SRC) && !target.startsWith(packages))
          outside.push(`${rel(file)} imports ${rel(target)}`);
    }
    expect(outside).toEqual([]);
  });

  it('the folder check can fail: two folders that import each other are a cycle', () => {
    expect(folderOf(join(SRC, 'host/local/main.ts'))).toBe('host/local');
    expect(folderOf(join(SRC, 'policy/evaluate.ts'))).toBe('policy');
    expect(
      cyclesOf(
        new Map([
          ['a', ['b']],
          ['b', ['a']],
          ['c', ['a']],
        ]),
        (f) => f,
      ),
    ).toEqual([['a', 'b']]);
  });

  it('the checks can fail: a cycle and an upward import are found in a graph made to have them', () => {
    expect(layerOf(join(SRC, 'routes/x.ts'))).toBe('routes');
    expect(layerOf(join(SRC, 'errors.ts'))).toBe('core');
    expect(layerOf(join(SRC, 'policy/evaluate.ts'))).toBe('domain');
    const a = join(SRC, '__a.ts');
    const b = join(SRC, '__b.ts');
    graph.set(a, [b]);
    graph.set(b, [a]);
    try {
      expect(cycles()).toContainEqual([rel(a), rel(b)]);
    } finally {
      graph.delete(a);
      graph.delete(b);
    }
  });
});
