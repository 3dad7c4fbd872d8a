/**
 * scripts/run-built.mjs, what the npm helpers run: it builds only when a source is newer than the
 * build (and says so), then runs the compiled entry with its arguments and exit code. Run on a
 * small project of its own in a temporary folder (the repository's sources are not touched).
 */
import { spawnSync } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '../..');

describe('scripts/run-built.mjs', () => {
  let dir: string;
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [join(dir, 'scripts/run-built.mjs'), ...args], {
      cwd: dir,
      encoding: 'utf8',
    });

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'run-built-'));
    mkdirSync(join(dir, 'scripts'));
    mkdirSync(join(dir, 'src'));
    copyFileSync(join(ROOT, 'scripts/run-built.mjs'), join(dir, 'scripts/run-built.mjs'));
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'package.json'), '{"type":"commonjs"}');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'commonjs',
          target: 'ES2022',
          outDir: 'dist',
          rootDir: '.',
          types: ['node'],
        },
      }),
    );
    writeFileSync(
      join(dir, 'tsconfig.build.json'),
      JSON.stringify({ extends: './tsconfig.json', include: ['src'] }),
    );
    writeFileSync(
      join(dir, 'src/hello.ts'),
      "process.stdout.write(`hello ${process.argv.slice(2).join(' ')}`);\nprocess.exitCode = process.argv.includes('fail') ? 3 : 0;\n",
    );
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('builds when there is no build yet, says so, then runs the entry with its arguments', () => {
    const first = run('src/hello.js', 'a', 'b');
    expect(first.stderr).toMatch(/^building \(no build yet\)/);
    expect([first.status, first.stdout]).toEqual([0, 'hello a b']);
  });

  it('runs at once when the build is current: no build, nothing on stderr', () => {
    const again = run('src/hello.js', 'c');
    expect([again.status, again.stdout, again.stderr]).toEqual([0, 'hello c', '']);
  });

  it('builds again when a source is newer than the build, naming it', () => {
    const later = new Date(Date.now() + 60_000);
    utimesSync(join(dir, 'src/hello.ts'), later, later);
    const rebuilt = run('src/hello.js');
    expect(rebuilt.stderr).toMatch(/^building \(src\/hello\.ts changed since the last build\)/);
    expect(rebuilt.status).toBe(0);
  });

  it("stops with the compiler's exit code when the build fails, running nothing", () => {
    const broken = join(dir, 'src/broken.ts');
    writeFileSync(broken, 'const x: number = "not a number";\n');
    try {
      const failed = run('src/hello.js');
      expect(failed.status).toBe(2);
      expect(failed.stdout).toMatch(/TS2322/);
    } finally {
      rmSync(broken);
    }
  });

  it("exits with the entry's exit code, and 2 without an entry", () => {
    expect(run('src/hello.js', 'fail').status).toBe(3);
    expect(run().status).toBe(2);
  });
});
