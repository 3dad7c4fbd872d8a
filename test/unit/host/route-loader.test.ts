import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { functionsDirectory, loadRoutes } from '../../../src/host/local/route-loader';

describe('loadRoutes', () => {
  it('loads the route of every gateway function module, silencing only the test-mode warnings', () => {
    const warn = jest.spyOn(console, 'warn');
    const { dir, extensions } = functionsDirectory();
    expect(extensions).toEqual(['.ts']);
    const routes = loadRoutes(dir, extensions);
    expect(routes.map((r) => r.name)).toEqual(expect.arrayContaining(['authorize', 'health']));
    expect(warn).not.toHaveBeenCalled();
    warn.mockRestore();
  });

  it('loads the sample downstream', () => {
    const { dir, extensions } = functionsDirectory('samples/orders');
    expect(loadRoutes(dir, extensions).map((r) => r.route)).toEqual(['orders/{*path}']);
  });

  it('refuses a module that exports no route definition', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'route-loader-'));
    try {
      await writeFile(join(dir, 'bad.js'), 'exports.route = { name: "x" };');
      expect(() => loadRoutes(dir, ['.js'])).toThrow(/does not export a route definition/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
