import { HttpRequest } from '@azure/functions';
import { correlationIdOf, readBodyText, readJsonBody } from '../../../src/http/request-context';
import { codeOf } from '../../helpers/errors';

function request(body: string | undefined, headers: Record<string, string> = {}): HttpRequest {
  return new HttpRequest({
    method: 'POST',
    url: 'http://127.0.0.1/api/x',
    headers,
    ...(body === undefined ? {} : { body: { string: body } }),
  });
}

describe('correlationIdOf', () => {
  it.each([
    ['keeps a well-formed id', 'abc-123.x:y_z', 'abc-123.x:y_z'],
    ['replaces one with spaces', 'a b', undefined],
    ['replaces one with a quote', 'a"b', undefined],
    ['replaces one over 128 chars', 'a'.repeat(129), undefined],
  ])('%s', (_case, sent, kept) => {
    const id = correlationIdOf(request(undefined, { 'x-correlation-id': sent }));
    if (kept !== undefined) expect(id).toBe(kept);
    else expect(id).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('creates a UUID when none is sent', () => {
    expect(correlationIdOf(request(undefined))).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('readJsonBody', () => {
  it('parses JSON with a JSON content type', async () => {
    await expect(readJsonBody(request('{"a":1}', { 'content-type': 'application/json' }))).resolves.toEqual({
      a: 1,
    });
    await expect(
      readJsonBody(request('{"a":1}', { 'content-type': 'application/merge-patch+json; charset=utf-8' })),
    ).resolves.toEqual({ a: 1 });
  });

  it.each([
    ['malformed JSON', '{"a":', { 'content-type': 'application/json' }, 'ERR_BAD_REQUEST'],
    ['empty body', '', { 'content-type': 'application/json' }, 'ERR_BAD_REQUEST'],
    ['text/plain', '{}', { 'content-type': 'text/plain' }, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['no content type', '{}', {}, 'ERR_UNSUPPORTED_MEDIA_TYPE'],
    [
      'oversized',
      `{"a":"${'x'.repeat(70_000)}"}`,
      { 'content-type': 'application/json' },
      'ERR_PAYLOAD_TOO_LARGE',
    ],
  ])('refuses %s', async (_case, body, headers, code) => {
    expect(await codeOf(readJsonBody(request(body, headers)))).toBe(code);
  });

  it('refuses on a declared Content-Length before reading', async () => {
    expect(await codeOf(readBodyText(request('{}', { 'content-length': '999999' }), 10))).toBe(
      'ERR_PAYLOAD_TOO_LARGE',
    );
  });
});
