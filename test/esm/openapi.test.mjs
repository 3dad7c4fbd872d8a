// GET /api/openapi.json validated by a standard OpenAPI 3.1 validator
// (@seriousme/openapi-schema-validator, ESM-only: jest cannot load it, so this runs under
// `node --test`, started by test/integration/openapi.test.ts), as the running gateway serves it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { startGateway } from './local-gateway.mjs';

let stack;
let api;

before(async () => {
  ({ stack, api } = await startGateway());
});

after(() => stack.close());

test('the served document is valid OpenAPI 3.1', async () => {
  const res = await fetch(`${api}/openapi.json`);
  assert.equal(res.status, 200);
  const document = await res.json();
  assert.equal(document.openapi, '3.1.0');
  const validator = new Validator();
  const result = await validator.validate(document);
  assert.deepEqual(result.errors ?? [], [], JSON.stringify(result.errors, null, 2));
  assert.equal(result.valid, true);
  assert.equal(validator.version, '3.1');
});

test('a broken document is refused by the same validator (the check can fail)', async () => {
  const document = await (await fetch(`${api}/openapi.json`)).json();
  document.paths['/api/token'].post.responses = 'not responses';
  const result = await new Validator().validate(document);
  assert.equal(result.valid, false);
});
