import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createJsonLogger } from '../../src/logger';
import { ensureBuilt, ROOT } from '../helpers/dist';

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe('the JSON logger on the standard streams', () => {
  let out: jest.SpyInstance;
  let err: jest.SpyInstance;
  const calls: string[] = [];

  beforeEach(() => {
    calls.length = 0;
    out = jest.spyOn(process.stdout, 'write').mockImplementation((text) => {
      calls.push(`out:${String(text)}`);
      return true;
    });
    err = jest.spyOn(process.stderr, 'write').mockImplementation((text) => {
      calls.push(`err:${String(text)}`);
      return true;
    });
  });

  afterEach(() => {
    out.mockRestore();
    err.mockRestore();
  });

  it('writes the info lines of one turn with one write, after the turn', async () => {
    const logger = createJsonLogger();
    logger.log('info', 'one', { n: 1 });
    logger.log('info', 'two', { n: 2 });
    logger.log('debug', 'hidden');
    expect(calls).toEqual([]);
    await nextTurn();
    expect(calls).toHaveLength(1);
    const lines = calls[0]!.slice('out:'.length).split('\n');
    expect(lines.map((line) => (line === '' ? line : (JSON.parse(line) as { event: string }).event))).toEqual(
      ['one', 'two', ''],
    );
  });

  it('writes a warning at once, after the info lines before it', async () => {
    const logger = createJsonLogger();
    logger.log('info', 'before');
    logger.log('error', 'failed', { code: 'X' });
    expect(calls.map((c) => c.slice(0, 4))).toEqual(['out:', 'err:']);
    expect(calls[0]).toContain('"event":"before"');
    expect(calls[1]).toContain('"event":"failed"');
    await nextTurn();
    expect(calls).toHaveLength(2); // nothing left to write
  });

  it('writes what is queued when the process exits in the same turn', () => {
    ensureBuilt();
    const logger = join(ROOT, 'dist/src/logger.js');
    const run = spawnSync(
      process.execPath,
      [
        '-e',
        `require(${JSON.stringify(logger)}).createJsonLogger().log('info', 'last-words'); process.exit(3);`,
      ],
      { encoding: 'utf8' },
    );
    expect(run.status).toBe(3);
    expect(run.stdout).toMatch(/^\{"time":"[^"]+","level":"info","event":"last-words"\}\n$/);
  });
});
