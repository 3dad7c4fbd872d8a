import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { SETTING_NAMES } from '../../src/config/defaults';
import { ERROR_CODES } from '../../src/errors';
import { ROUTES } from '../../src/routes';

const ROOT = join(__dirname, '../..');
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

describe('docs/errors.md', () => {
  const doc = read('docs/errors.md');

  it.each(Object.entries(ERROR_CODES))('documents %s with its status', (code, { status }) => {
    expect(doc).toMatch(new RegExp(`\\|\\s*\`${code}\`\\s*\\|\\s*${status}\\s*\\|`));
  });
});

describe('docs/reference.md', () => {
  const doc = read('docs/reference.md');
  const settings = doc.slice(doc.indexOf('## 2. Settings'), doc.indexOf('## 3.'));
  const routes = doc.slice(doc.indexOf('## 4. Routes'), doc.indexOf('## 5.'));

  it.each(SETTING_NAMES)('lists the setting %s', (name) => {
    expect(settings).toContain(`\`${name}\``);
  });

  it.each(ROUTES.map((r) => [r.name, r]))('lists the route %s with its methods', (_name, route) => {
    // `policies/{id?}` is written as `/api/policies` and `/api/policies/{id}`.
    const path = `/api/${route.template.replace(/\/\{\w+\?\}$/, '')}`;
    const rows = routes
      .split('\n')
      .filter((line) => ['`', '/', '?'].some((end) => line.includes(`${path}${end}`)));
    expect(rows.length).toBeGreaterThan(0);
    for (const method of route.methods) expect(rows.join('\n')).toContain(method);
  });
});

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const match of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    anchors.add(
      match[1]!
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return anchors;
}

describe('README and docs link only inside the repository', () => {
  const pages = ['README.md', ...readdirSync(join(ROOT, 'docs')).map((f) => `docs/${f}`)].filter((p) =>
    p.endsWith('.md'),
  );
  const links = pages.flatMap((page) =>
    [...read(page).matchAll(/\]\(([^)\s]+)\)/g)].map((m) => ({ page, target: m[1]! })),
  );

  it('finds links to check (the scan works)', () => {
    expect(links.length).toBeGreaterThan(20);
  });

  it.each(links.map((l) => [`${l.page} -> ${l.target}`, l]))('%s', (_label, { page, target }) => {
    expect(target).not.toMatch(/^[a-z]+:/i); // no http(s), mailto, ...
    const [file, anchor] = target.split('#') as [string, string | undefined];
    const resolved = file === '' ? join(ROOT, page) : resolve(dirname(join(ROOT, page)), file);
    expect(relative(ROOT, resolved).startsWith('..')).toBe(false);
    expect(existsSync(resolved)).toBe(true);
    if (anchor !== undefined && resolved.endsWith('.md')) {
      expect([...anchorsOf(readFileSync(resolved, 'utf8'))]).toContain(anchor);
    }
  });
});

describe('README: what a user needs before `func start`', () => {
  it('names the Core Tools version HTTP streaming needs (older ones fail at app.setup)', () => {
    expect(read('README.md')).toMatch(/Core Tools 4\.0\.5530 or later/);
  });
});

describe('Markdown tables in docs/ and the README', () => {
  const pages = [
    join(__dirname, '../../README.md'),
    ...readdirSync(join(__dirname, '../../docs'))
      .filter((f) => f.endsWith('.md'))
      .map((f) => join(__dirname, '../../docs', f)),
  ];
  it.each(pages)('%s: every row of a table has as many cells as its header (no unescaped |)', (page) => {
    const lines = readFileSync(page, 'utf8').split('\n');
    const cells = (line: string) => (line.match(/(?<!\\)\|/g) ?? []).length;
    const broken: string[] = [];
    for (let i = 0; i < lines.length; i++) {
      if (!lines[i]!.startsWith('|')) continue;
      const header = cells(lines[i]!);
      for (; i < lines.length && lines[i]!.startsWith('|'); i++) {
        if (cells(lines[i]!) !== header) broken.push(`${i + 1}: ${lines[i]!.slice(0, 60)}`);
      }
    }
    expect(broken).toEqual([]);
  });
});
