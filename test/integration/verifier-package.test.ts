/**
 * packages/verifier as a downstream installs it: packed with `npm pack` (offline), unpacked into
 * an empty project, and required (CommonJS) and imported (ESM) by plain Node scripts that verify a
 * statement the gateway's own signer made, through a JWKS served over HTTP. Its dependencies are
 * found the way an installed package finds them (node_modules up the tree), and no file of the
 * repository outside the tarball is reachable to it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Principal } from '../../src/auth/principal';
import { systemClock } from '../../src/clock';
import { generateStatementKey } from '../../src/config/signing-keys';
import { StatementSigner } from '../../src/proxy/principal-statement';
import { ensureBuilt, ROOT } from '../helpers/dist';
import { principalWith } from '../helpers/principal';

const caller: Principal = principalWith({
  oid: 'o1',
  tid: '9f1c2c3e-0d1a-4b7e-9c55-2f0c6d1e7a01',
  azp: 'a1',
  roles: ['Orders.Reader'],
});

const CONSUMER = `
  const { createStatementVerifier, VerifierError, MemoryStatementReplay } = LOAD;
  const verify = createStatementVerifier({ issuer: process.env.ISSUER, audience: 'orders' });
  const bound = createStatementVerifier({ issuer: process.env.ISSUER, audience: 'orders', requireBound: true, replay: new MemoryStatementReplay() });
  (async () => {
    const caller = await verify(process.env.STATEMENT);
    const tampered = await verify(process.env.STATEMENT.slice(0, -4) + 'AAAA').catch((e) => e);
    const unbound = await bound(process.env.STATEMENT, { method: 'GET', url: 'http://x/' }).catch((e) => e);
    console.log(JSON.stringify({
      oid: caller.oid, roles: caller.roles,
      tampered: tampered instanceof VerifierError ? tampered.code : String(tampered),
      unbound: unbound instanceof VerifierError ? unbound.code : String(unbound),
    }));
  })().catch((e) => { console.error(e); process.exit(1); });
`;

describe('entra-functions-gateway-verifier, packed and installed alone', () => {
  let project: string;
  let server: Server;
  let issuer: string;
  let statement: string;
  let tarball: string;

  beforeAll(async () => {
    ensureBuilt(); // builds the package too (npm run build)
    const signer = new StatementSigner([generateStatementKey('k1')], systemClock);
    server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(signer.jwks));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api`;
    statement = signer.statementFor(caller, 'orders', issuer);

    // Inside the repository's .local/, so its dependencies resolve from the root node_modules
    // as an installed package's do (the test has no registry); the package itself comes from the tarball.
    mkdirSync(join(ROOT, '.local'), { recursive: true });
    project = mkdtempSync(join(ROOT, '.local', 'verifier-consumer-'));
    const packed = spawnSync(
      'npm',
      ['pack', '-w', 'entra-functions-gateway-verifier', '--pack-destination', project, '--json'],
      {
        cwd: ROOT,
        encoding: 'utf8',
      },
    );
    if (packed.status !== 0) throw new Error(`npm pack failed: ${packed.stderr}`);
    const [info] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
    tarball = join(project, info!.filename);
    const target = join(project, 'node_modules', 'entra-functions-gateway-verifier');
    mkdirSync(target, { recursive: true });
    const untar = spawnSync('tar', ['-xzf', tarball, '-C', target, '--strip-components=1']);
    if (untar.status !== 0) throw new Error(`tar failed: ${String(untar.stderr)}`);
    writeFileSync(join(project, 'package.json'), '{"name":"consumer","private":true}');
    writeFileSync(
      join(project, 'consumer.cjs'),
      CONSUMER.replace('LOAD', "require('entra-functions-gateway-verifier')"),
    );
    writeFileSync(
      join(project, 'consumer.mjs'),
      `import * as verifier from 'entra-functions-gateway-verifier';\n${CONSUMER.replace('LOAD', 'verifier')}`,
    );
  }, 180_000);

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(project, { recursive: true, force: true });
  });

  it('ships its build, types, README and package.json only', () => {
    const listing = spawnSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
      .stdout.split('\n')
      .filter(Boolean)
      .sort();
    expect(listing).toEqual([
      'package/README.md',
      'package/dist/index.d.ts',
      'package/dist/index.js',
      'package/dist/index.mjs',
      'package/dist/statement-verifier.d.ts',
      'package/dist/statement-verifier.js',
      'package/dist/verifier-error.d.ts',
      'package/dist/verifier-error.js',
      'package/package.json',
    ]);
    const manifest = JSON.parse(
      readFileSync(join(project, 'node_modules/entra-functions-gateway-verifier/package.json'), 'utf8'),
    ) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(manifest.dependencies).sort()).toEqual(['jsonwebtoken', 'jwks-rsa']);
  });

  it.each(['consumer.cjs', 'consumer.mjs'])(
    '%s verifies a real statement, and refuses a tampered and an unbound one',
    async (file) => {
      const child = spawn(process.execPath, [join(project, file)], {
        cwd: project,
        env: { ...process.env, ISSUER: issuer, STATEMENT: statement },
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (c: Buffer) => (out += c.toString()));
      child.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect({ code, err }).toEqual({ code: 0, err: '' });
      expect(JSON.parse(out)).toEqual({
        oid: 'o1',
        roles: ['Orders.Reader'],
        tampered: 'ERR_PRINCIPAL_STATEMENT_INVALID',
        unbound: 'ERR_PRINCIPAL_STATEMENT_INVALID',
      });
    },
  );
});
