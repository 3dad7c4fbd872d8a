import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_IDP_AUTHORITY, DEV_TENANT_ID } from '../../../src/host/local/dev-identity-provider';
import {
  devIssuerFor,
  findRunningStack,
  recordRunningStack,
  runningStacks,
} from '../../../src/host/local/running-stacks';

const stack = (port: number, idpPort: number) => ({
  gatewayUrl: `http://127.0.0.1:${port}`,
  authority: `https://127.0.0.1:${idpPort}`,
  tenantId: DEV_TENANT_ID,
  clientId: '5e7d1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b',
});

describe('running local stacks (.local/stacks)', () => {
  it('finds a stack by its gateway port, the only one without a port, and forgets one on stop', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stacks-'));
    const forgetA = recordRunningStack(stack(7071, 7072), dir);
    expect(findRunningStack(undefined, dir)?.authority).toBe('https://127.0.0.1:7072');
    const forgetB = recordRunningStack(stack(7081, 41234), dir);
    expect(findRunningStack('http://127.0.0.1:7081/api', dir)?.authority).toBe('https://127.0.0.1:41234');
    expect(findRunningStack(undefined, dir)).toBeUndefined(); // two run: none is meant
    expect(findRunningStack('http://127.0.0.1:9999', dir)).toBeUndefined();
    forgetB();
    forgetA();
    expect(runningStacks(dir)).toEqual([]);
  });

  it('ignores the record of a stack whose process is gone, and a file that is not a record', () => {
    const dir = mkdtempSync(join(tmpdir(), 'stacks-'));
    writeFileSync(join(dir, '7071.json'), JSON.stringify({ ...stack(7071, 7072), pid: 2 ** 22 + 7 }));
    writeFileSync(join(dir, '7081.json'), 'not json');
    expect(runningStacks(dir)).toEqual([]);
  });

  it.each<[string, NodeJS.ProcessEnv, string | undefined, string]>([
    ['the stack at --gateway', {}, 'http://127.0.0.1:7081', 'https://127.0.0.1:41234'],
    [
      'the stack at GATEWAY_URL',
      { GATEWAY_URL: 'http://127.0.0.1:7081' },
      undefined,
      'https://127.0.0.1:41234',
    ],
    ['the stack at PORT', { PORT: '7081' }, undefined, 'https://127.0.0.1:41234'],
    [
      'ENTRA_AUTHORITY over any stack',
      { ENTRA_AUTHORITY: 'https://idp.example/' },
      'http://127.0.0.1:7081',
      'https://idp.example',
    ],
    [
      'the fixed dev address when no stack matches and several run',
      { PORT: '9999' },
      undefined,
      DEV_IDP_AUTHORITY,
    ],
  ])('a dev token names %s', (_case, env, gateway, authority) => {
    const dir = mkdtempSync(join(tmpdir(), 'stacks-'));
    recordRunningStack(stack(7081, 41234), dir);
    writeFileSync(join(dir, '7091.json'), JSON.stringify({ ...stack(7091, 41240), pid: process.pid }));
    expect(devIssuerFor(env, gateway, dir).authority).toBe(authority);
  });
});
