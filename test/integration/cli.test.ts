import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';

describe('gateway CLI against the local stack', () => {
  let stack: LocalStack;
  let dir: string;
  let token: string;

  beforeAll(async () => {
    stack = await startLocalStack({ env: {}, port: 0, logger: new MemoryLogger(), seedDemo: false });
    token = stack.idp!.mintToken({ roles: ['Gateway.Admin'] });
    dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
  });

  afterAll(() => stack?.close());

  async function cli(...args: string[]): Promise<{ code: number; out: string }> {
    const lines: string[] = [];
    const code = await runCli([...args, '--url', stack.gatewayUrl!, '--token', token], (l) => lines.push(l));
    return { code, out: lines.join('\n') };
  }

  function file(name: string, text: string): string {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  }

  const yaml = (extraPolicy = '') => `
resources:
  - name: orders
    upstream: ${stack.orders.url}/api/orders
    auth: { type: none }
policies:
  - id: readers
    effect: allow
    resource: orders
    actions: [read]
    principals: { roles: [Orders.Reader] }
${extraPolicy}`;

  it('applies a file, then finds nothing to change (defaults compare equal)', async () => {
    const path = file('a.yaml', yaml());
    const dry = await cli('apply', '-f', path, '--dry-run');
    expect(dry.out).toContain('+ resources/orders');
    expect(dry.out).toContain('+ policies/readers');
    expect((await cli('get', 'policies')).out).toBe('[]'); // dry run changed nothing

    expect((await cli('apply', '-f', path)).out).toContain('2 change(s), 0 unchanged');
    expect((await cli('apply', '-f', path)).out).toBe('0 change(s), 2 unchanged');
  });

  it('updates what differs, and prunes only with --prune', async () => {
    const extra = `  - id: writers
    effect: allow
    resource: orders
    actions: [create]
    principals: { roles: [Orders.Writer] }`;
    expect((await cli('apply', '-f', file('b.yaml', yaml(extra)))).out).toContain('+ policies/writers');

    const json = file(
      'c.json',
      JSON.stringify({
        policies: [
          {
            id: 'writers',
            effect: 'allow',
            resource: 'orders',
            actions: ['create', 'write'],
            principals: { roles: ['Orders.Writer'] },
          },
        ],
      }),
    );
    const kept = await cli('apply', '-f', json);
    expect(kept.out).toContain('~ policies/writers');
    expect(kept.out).not.toContain('- policies/readers');

    const pruned = await cli('apply', '-f', json, '--prune');
    expect(pruned.out).toContain('- policies/readers');
    expect(pruned.out).toContain('- resources/orders');
    const stored = JSON.parse((await cli('get', 'policies')).out) as { id: string; actions: string[] }[];
    expect(stored).toEqual([expect.objectContaining({ id: 'writers', actions: ['create', 'write'] })]);
  });

  it('explains a decision', async () => {
    const res = await cli('explain', '--resource', 'orders', '--action', 'read', '--path', '/customers/1');
    expect(JSON.parse(res.out)).toMatchObject({ allowed: false, decision: 'deny' });
  });

  it.each([
    ['an unknown top-level key', 'x.yaml', 'rules: []', /unknown top-level key "rules"/],
    ['a list at the top', 'y.yaml', '- a', /expected an object/],
    ['an entry without an id', 'z.yaml', 'policies: [{ effect: allow }]', /string "id"/],
  ])('refuses a file with %s', async (_case, name, text, message) => {
    await expect(cli('apply', '-f', file(name, text))).rejects.toThrow(message);
  });

  it('reports an invalid document with the field the gateway names', async () => {
    const bad = file('bad.yaml', 'policies: [{ id: p, effect: allow, resource: orders, actions: [steal] }]');
    await expect(cli('apply', '-f', bad)).rejects.toMatchObject({ status: 400, code: 'ERR_VALIDATION' });
  });

  it('prints usage for an unknown command', async () => {
    const res = await cli('frobnicate');
    expect(res.code).toBe(2);
    expect(res.out).toContain('usage:');
  });
});
