// The compiled local stack for the ESM tests of this folder (run by `node --test`, started by
// jest): a gateway over HTTP with no demo data, and an admin PUT that fails the test unless the
// gateway stored the document.
import assert from 'node:assert/strict';
import localStack from '../../dist/src/host/local/local-stack.js';
import logger from '../../dist/src/logger.js';

/** Starts the stack; `put(path, body)` writes a resource or policy through the admin API. */
export async function startGateway() {
  const stack = await localStack.startLocalStack({
    env: {},
    port: 0,
    logger: new logger.MemoryLogger(),
    seedDemo: false,
  });
  const api = `${stack.gatewayUrl}/api`;
  const admin = stack.idp.mintToken({ roles: ['Gateway.Admin'] });
  const put = async (path, body) => {
    const res = await fetch(`${api}/${path}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.ok(res.status === 200 || res.status === 201, await res.text());
  };
  return { stack, api, put };
}
