import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer as createHttpServer } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../../src/host/local/local-stack';
import { MemoryLogger } from '../../src/logger';
import { runCaptured } from '../helpers/cli';

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

  async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
    return run(...args, '--url', stack.gatewayUrl!, '--token', token);
  }

  /** The CLI as given, with no --url or --token added. */
  const run = runCaptured;

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

    const applied = await cli('apply', '-f', path);
    expect(applied.out).toContain('+ resources/orders: done');
    expect(applied.out).toContain('2 change(s), 0 unchanged');
    expect((await cli('apply', '-f', path)).out).toBe('no new access\n0 change(s), 2 unchanged');
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
    ['an unknown top-level key', 'x.yaml', 'rules: []', /x\.yaml: unknown top-level key "rules"/],
    ['a list at the top', 'y.yaml', '- a', /expected an object/],
    ['an entry without an id', 'z.yaml', 'policies: [{ effect: allow }]', /policies\[0\] id:/],
    ['text that is not YAML', 'w.yaml', 'policies: [', /not YAML or JSON/],
  ])('refuses a file with %s: exit 2, nothing written', async (_case, name, text, message) => {
    const res = await cli('apply', '-f', file(name, text));
    expect(res.code).toBe(2);
    expect(res.err).toMatch(message);
  });

  it('validates every document before writing any, with --dry-run too, naming file, entry and field', async () => {
    const before = (await cli('get', 'policies')).out;
    const bad = file(
      'bad.yaml',
      `${yaml()}  - id: thief
    effect: allow
    resource: orders
    actions: [steal]
`,
    );
    for (const args of [
      ['apply', '-f', bad],
      ['apply', '-f', bad, '--dry-run'],
      ['validate', '-f', bad],
    ]) {
      const res = await cli(...args);
      expect({ args, code: res.code }).toEqual({ args, code: 2 });
      expect(res.err).toMatch(/bad\.yaml: policies\[1\] \(thief\) actions/);
    }
    expect((await cli('get', 'policies')).out).toBe(before);
  });

  it('reports each document of a failed apply: which were applied, which failed, which were not attempted', async () => {
    // Valid in shape; the gateway refuses the upstream host (not in DOWNSTREAM_ALLOWED_HOSTS).
    const path = file(
      'partial.yaml',
      `resources:
  - name: good
    upstream: ${stack.orders.url}/api/orders
    auth: { type: none }
` +
        `  - name: outside
    upstream: https://evil.example.net/api
    auth: { type: none }
` +
        `policies:
  - id: later
    effect: allow
    resource: good
    actions: [read]
`,
    );
    const res = await cli('apply', '-f', path);
    expect(res.code).toBe(1);
    expect(res.out).toContain('+ resources/good: done');
    expect(res.out).toMatch(/\+ resources\/outside: failed \(.*ERR_VALIDATION/);
    expect(res.out).toContain('+ policies/later: not attempted');
    expect(res.out).toContain('stopped: 1 of 3 change(s) applied');
    const json = await cli('apply', '-f', path, '--json');
    expect(JSON.parse(json.out)).toMatchObject({
      ok: false,
      outcomes: [
        { id: 'outside', outcome: 'failed' },
        { id: 'later', outcome: 'not attempted' },
      ],
    });
    await cli('delete', 'resource', 'good');
  });

  it('prints usage: --help and help exit 0, each command has its own, a bare or unknown command exits 2', async () => {
    for (const args of [['--help'], ['-h'], ['help']]) {
      const res = await run(...args);
      expect({ args, code: res.code }).toEqual({ args, code: 0 });
      expect(res.out).toMatch(/^usage: npm run -s gateway -- <command>/);
    }
    // Every command the CLI's own usage lists, so a command added later is held to it too.
    const usage = (await run('--help')).out;
    const listed = usage
      .slice(usage.indexOf('commands:\n'), usage.indexOf('options of every command'))
      .split('\n')
      .slice(1, -1);
    const commands = listed.map((l) => l.trim().split(' ')[0]!);
    expect(commands).toEqual(expect.arrayContaining(['apply', 'check-access', 'replay', 'review', 'whatif']));
    for (const command of commands) {
      const res = await run(command, '--help');
      expect({ command, code: res.code }).toEqual({ command, code: 0 });
      expect(res.out).toContain(`usage: npm run -s gateway -- ${command}`);
    }
    expect((await run()).code).toBe(2);
    const unknown = await run('frobnicate');
    expect([unknown.code, unknown.err]).toEqual([2, expect.stringContaining('unknown command "frobnicate"')]);
    const flag = await run('get', 'policies', '--colour');
    expect([flag.code, flag.err]).toEqual([2, expect.stringContaining("Unknown option '--colour'")]);
  });

  it('says when the gateway cannot be reached (exit 1), and takes the banner URL with /api', async () => {
    // A port nothing listens on: taken, then let go.
    const closed = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as AddressInfo;
        server.close(() => resolve(port));
      });
    });
    const down = await run('get', 'policies', '--url', `http://127.0.0.1:${closed}`, '--token', token);
    expect(down.code).toBe(1);
    expect(down.err).toContain(`cannot reach the gateway at http://127.0.0.1:${closed}/api (ECONNREFUSED)`);
    const banner = await run('get', 'policies', '--url', `${stack.gatewayUrl!}/api`, '--token', token);
    expect(banner.code).toBe(0);
    expect((await run('get', 'policies', '--url', 'not a url')).code).toBe(2);
  });

  it('deletes, revokes, reads the audit trail and answers a what-if', async () => {
    const path = file('d.yaml', yaml());
    expect((await cli('apply', '-f', path)).code).toBe(0);
    const deleted = await cli('delete', 'policy', 'readers');
    expect([deleted.code, deleted.out]).toEqual([0, '- policies/readers: deleted']);
    expect((await cli('delete', 'policy', 'readers')).code).toBe(1); // 404 from the gateway

    const revoked = await cli('revoke', '--oid', '0d5e1f3a-7b2c-4d8e-9f10-a1b2c3d4e5f6', '--json');
    expect(JSON.parse(revoked.out)).toMatchObject({ kind: 'oid' });
    expect((await cli('revoke', '--sid', 'x', '--oid', 'y')).code).toBe(2);
    expect((await cli('revoke', '--sid', 'short')).code).toBe(1); // the gateway's 400

    await stack.gateway!.auditLog.flush();
    const audit = await cli('audit', '--limit', '5', '--json');
    expect(audit.code).toBe(0);
    expect((JSON.parse(audit.out) as unknown[]).length).toBeGreaterThan(0);

    expect((await cli('apply', '-f', path)).code).toBe(0);
    const whatif = await cli(
      'whatif',
      '--resource',
      'orders',
      '--action',
      'read',
      '--claims',
      '{"roles":["Orders.Reader"],"oid":"u1","tid":"9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01"}',
    );
    expect(JSON.parse(whatif.out)).toMatchObject({ allowed: true, policies: ['readers'] });
    expect((await cli('whatif', '--resource', 'orders', '--action', 'read', '--claims', '[1]')).code).toBe(2);
  });

  it('validates a file offline, with no gateway', async () => {
    const res = await run('validate', '-f', file('v.yaml', yaml()), '--url', 'http://127.0.0.1:1');
    expect([res.code, res.out]).toEqual([
      0,
      expect.stringMatching(/valid \(1 resource\(s\), 1 polic\(ies\)\)/),
    ]);
  });

  describe('check-access', () => {
    /** The orders resource of the stack's sample downstream, as a file's first lines. */
    const ordersResource = () =>
      `resources:\n  - name: orders\n    upstream: ${stack.orders.url}/api/orders\n    auth: { type: none }\n`;
    const policies = (extra = '') => `
policies:
  - id: readers
    effect: allow
    resource: orders
    actions: [read]
    principals: { roles: [Orders.Reader] }
  - id: no-archive
    effect: deny
    resource: orders
    paths: ['/archive/**']
    actions: ['*']
${extra}`;
    const writers = `
  - id: writers
    effect: allow
    resource: orders
    actions: [write]
    principals: { roles: [Orders.Writer] }`;
    const assertions = `
- id: only-writers-write
  resource: orders
  actions: [write, create, delete]
  paths: ['/**']
  allowOnly: { roles: [Orders.Writer] }
- id: nobody-reads-archive
  resource: orders
  actions: [read]
  paths: ['/archive/**']
  allowOnly: { roles: [Nobody] }
`;

    it('finds no new access and proves the assertions of an unchanged set: exit 0', async () => {
      const base = file('base.yaml', policies());
      const res = await run(
        'check-access',
        '--policies',
        base,
        '--baseline',
        base,
        '--assert',
        file('ok.yaml', assertions),
      );
      expect(res.out.split('\n').slice(0, 3)).toEqual([
        'no new access',
        'assertion only-writers-write: proven',
        'assertion nobody-reads-archive: proven',
      ]);
      expect(res.code).toBe(0);
    });

    it('reports new access with an example the what-if confirms, and a refuted assertion: exit 1', async () => {
      const base = file('base2.yaml', policies());
      const wider = file(
        'wider.yaml',
        policies(`${writers}
  - id: everyone-writes
    effect: allow
    resource: orders
    actions: [write]`),
      );
      const res = await run(
        'check-access',
        '--policies',
        wider,
        '--baseline',
        base,
        '--assert',
        file('a2.yaml', assertions),
        '--json',
      );
      expect(res.code).toBe(1);
      const report = JSON.parse(res.out) as {
        newAccess: {
          resource: string;
          action: string;
          path: string;
          principal: Record<string, unknown>;
          allowedBy: string[];
        }[];
        assertions: { id: string; proven: boolean }[];
      };
      expect(report.newAccess.map((e) => e.allowedBy.join(',')).sort()).toEqual([
        'everyone-writes',
        'everyone-writes,writers',
      ]);
      expect(report.assertions).toEqual([
        expect.objectContaining({ id: 'only-writers-write', proven: false }),
        { id: 'nobody-reads-archive', proven: true },
      ]);
      // The gateway's own what-if, over HTTP, decides each example as reported.
      await cli(
        'apply',
        '-f',
        file(
          'wider-applied.yaml',
          `${ordersResource()}${policies(`${writers}
  - id: everyone-writes
    effect: allow
    resource: orders
    actions: [write]`)}`,
        ),
        '--prune',
      );
      for (const e of report.newAccess) {
        const answer = await cli(
          'whatif',
          '--resource',
          e.resource,
          '--action',
          e.action,
          '--path',
          e.path,
          '--claims',
          JSON.stringify(e.principal),
          '--json',
        );
        expect(JSON.parse(answer.out)).toMatchObject({ allowed: true, policies: e.allowedBy });
      }
    });

    it('compares with the deployed set at --url, and apply --no-new-access refuses a widening file, writing nothing', async () => {
      const deployed = file('deployed.yaml', `${ordersResource()}${policies()}`);
      expect((await cli('apply', '-f', deployed, '--prune')).code).toBe(0);
      const wider = file('wider3.yaml', `${ordersResource()}${policies(writers)}`);
      const checked = await cli('check-access', '--policies', wider);
      expect(checked.code).toBe(1);
      expect(checked.out).toMatch(/^NEW ACCESS: 1 kind\(s\)/);
      expect(checked.out).toContain('(allowed by writers)');
      const refused = await cli('apply', '-f', wider, '--no-new-access');
      expect(refused.code).toBe(1);
      expect(refused.out).toContain('refused (--no-new-access): nothing applied');
      expect((await cli('get', 'policies', '--json')).out).not.toContain('"writers"');
      const shown = await cli('apply', '-f', wider);
      expect(shown.code).toBe(0);
      expect(shown.out.split('\n')[0]).toBe('NEW ACCESS: 1 kind(s) of request the baseline does not allow');
    });

    it("apply against a gateway storing a policy today's schema refuses: the check is said undone, the apply is not blocked", async () => {
      // An older gateway may list a policy this CLI's schema now refuses (a condition on upn).
      const old = createHttpServer((req, res) => {
        const items = req.url?.startsWith('/api/policies')
          ? [
              {
                id: 'by-upn',
                effect: 'allow',
                resource: 'orders',
                actions: ['read'],
                conditions: [{ claim: 'upn', operator: 'equals', value: 'a@b' }],
              },
            ]
          : [];
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ items, count: items.length }));
      });
      await new Promise<void>((resolve) => old.listen(0, '127.0.0.1', resolve));
      const url = `http://127.0.0.1:${(old.address() as AddressInfo).port}`;
      try {
        const path = file('old.yaml', policies());
        const dry = await run('apply', '-f', path, '--dry-run', '--url', url, '--token', 'x');
        expect(dry.code).toBe(0);
        expect(dry.out.split('\n')[0]).toMatch(
          /^new access not checked: the deployed policies: policies\[0\] conditions\[0\]\.claim: "upn" is never given to policies/,
        );
        const refused = await run('apply', '-f', path, '--no-new-access', '--url', url, '--token', 'x');
        expect(refused.code).toBe(1);
        expect(refused.out).toContain('refused (--no-new-access): nothing applied');
      } finally {
        await new Promise((resolve) => old.close(resolve));
      }
    });

    it.each([
      [
        'an assertion without allowOnly',
        `- id: x\n  resource: orders\n  actions: [read]\n  paths: ['/**']`,
        /a\.yaml: \[0\]\.allowOnly \(x\): /,
      ],
      [
        'an assertion with an unknown field',
        `- id: y\n  resource: orders\n  actions: [read]\n  paths: ['/**']\n  allowOnly: { roles: [R] }\n  alow: 1`,
        /a\.yaml: \[0\]\.alow \(y\): unknown field/,
      ],
      [
        'an assertion on a bad glob',
        `- id: z\n  resource: orders\n  actions: [read]\n  paths: ['/a/../b']\n  allowOnly: { roles: [R] }`,
        /a\.yaml: \[0\]\.paths\[0\] \(z\): /,
      ],
      ['an assertions file that is not a list', `id: w`, /a\.yaml: \(file\): /],
    ])('bad input, %s: exit 2, the file, entry and field named', async (_name, text, message) => {
      const res = await run(
        'check-access',
        '--policies',
        file('p.yaml', policies()),
        '--assert',
        file('a.yaml', text),
      );
      expect(res.code).toBe(2);
      expect(res.err).toMatch(message);
    });

    it('bad policy file: exit 2 naming it; a policy it cannot analyze: exit 1 saying why', async () => {
      const bad = await run(
        'check-access',
        '--policies',
        file('bad.yaml', 'policies:\n  - id: q\n    effect: maybe'),
        '--baseline',
        file('b.yaml', policies()),
      );
      expect(bad.code).toBe(2);
      expect(bad.err).toMatch(/bad\.yaml: policies\[0\] \(q\) effect: /);
      const odd = await run(
        'check-access',
        '--policies',
        file(
          'odd.yaml',
          policies(`
  - id: odd
    effect: deny
    resource: orders
    actions: [read]
    conditions: [{ claim: hasgroups, operator: exists }]`),
        ),
      );
      expect(odd.code).toBe(1);
      expect(odd.err).toContain('policy odd: a condition on "hasgroups" is not analyzed');
      expect(
        (
          await run(
            'check-access',
            '--policies',
            file('p3.yaml', policies()),
            '--baseline',
            'x.yaml',
            '--url',
            'http://127.0.0.1:1',
          )
        ).code,
      ).toBe(2);
    });
  });
});
