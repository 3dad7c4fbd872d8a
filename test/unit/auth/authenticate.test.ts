import { authenticate, type CredentialVerifiers } from '../../../src/auth/authenticate';
import { parseAuthorizationHeader } from '../../../src/http/authorization-header';
import type { Principal } from '../../../src/auth/principal';
import type { ErrorCode } from '../../../src/errors';
import { expectGatewayError } from '../../helpers/entra';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJ2ZXIiOiIyLjAifQ.c2ln';
const SAS = 'sv=1&sr=orders&sp=r&se=1700000000&skn=k1&sig=abc%2Bdef';

function verifiers(withSas: boolean, bound = false) {
  const seen: string[] = [];
  const verifier = (kind: 'entra' | 'sas' | 'dpop') => ({
    verify: (credential: string) => {
      seen.push(`${kind}:${credential}`);
      const principal = { kind: kind === 'entra' ? 'entra' : 'sas' } as Principal;
      return Promise.resolve(
        bound ? ({ ...principal, sas: { jkt: 'k'.repeat(43) } } as Principal) : principal,
      );
    },
  });
  const v: CredentialVerifiers = withSas
    ? { entra: verifier('entra'), sas: verifier('sas'), dpop: verifier('dpop') }
    : { entra: verifier('entra') };
  return { v, seen };
}

describe('authenticate', () => {
  it.each([
    ['Bearer', `Bearer ${JWT}`, `entra:${JWT}`],
    ['bearer (lower case)', `bearer ${JWT}`, `entra:${JWT}`],
    ['BEARER (upper case)', `BEARER ${JWT}`, `entra:${JWT}`],
    ['SharedAccessSignature', `SharedAccessSignature ${SAS}`, `sas:${SAS}`],
    ['sharedaccesssignature (lower case)', `sharedaccesssignature ${SAS}`, `sas:${SAS}`],
    ['DPoP (a bound SAS token)', `DPoP ${SAS}`, `dpop:${SAS}`],
    ['dpop (lower case)', `dpop ${SAS}`, `dpop:${SAS}`],
  ])('dispatches %s to its verifier', async (_name, header, expected) => {
    const { v, seen } = verifiers(true);
    await authenticate(header, v);
    expect(seen).toEqual([expected]);
  });

  it.each<[string, string | null, ErrorCode]>([
    ['no header', null, 'ERR_CREDENTIAL_MISSING'],
    ['empty header', '', 'ERR_CREDENTIAL_MISSING'],
    ['whitespace header', '   ', 'ERR_CREDENTIAL_MISSING'],
    ['Basic', 'Basic dXNlcjpwYXNz', 'ERR_CREDENTIAL_SCHEME'],
    ['Digest', 'Digest username="a", realm="b"', 'ERR_CREDENTIAL_SCHEME'],
    ['DPoP where only Bearer is taken (admin routes)', `DPoP ${SAS}`, 'ERR_CREDENTIAL_SCHEME'],
    ['a bare token without scheme', JWT, 'ERR_CREDENTIAL_SCHEME'],
    ['Bearer-ish scheme', `Bearer: ${JWT}`, 'ERR_CREDENTIAL_SCHEME'],
    ['leading space', ` Bearer ${JWT}`, 'ERR_CREDENTIAL_SCHEME'],
    ['SAS while no SAS verifier is configured', `SharedAccessSignature ${SAS}`, 'ERR_CREDENTIAL_SCHEME'],
    ['Bearer without token', 'Bearer', 'ERR_TOKEN_MALFORMED'],
    ['DPoP without token', 'DPoP ', 'ERR_TOKEN_MALFORMED'],
    ['DPoP with two tokens', `DPoP ${SAS} ${SAS}`, 'ERR_TOKEN_MALFORMED'],
    ['Bearer with empty token', 'Bearer ', 'ERR_TOKEN_MALFORMED'],
    ['two spaces', `Bearer  ${JWT}`, 'ERR_TOKEN_MALFORMED'],
    ['tab separator', `Bearer\t${JWT}`, 'ERR_CREDENTIAL_SCHEME'],
    ['two tokens', `Bearer ${JWT} ${JWT}`, 'ERR_TOKEN_MALFORMED'],
    ['comma list of credentials', `Bearer ${JWT}, Bearer ${JWT}`, 'ERR_TOKEN_MALFORMED'],
    ['trailing space', `Bearer ${JWT} `, 'ERR_TOKEN_MALFORMED'],
    ['quoted token', `Bearer "${JWT}"`, 'ERR_TOKEN_MALFORMED'],
  ])('%s → %s', async (_name, header, code) => {
    const { v, seen } = verifiers(false);
    await expectGatewayError(authenticate(header, v), code);
    expect(seen).toEqual([]);
  });

  it('challenges with every accepted scheme on an unsupported one', async () => {
    const withSas = await expectGatewayError(
      authenticate('Basic x', verifiers(true).v),
      'ERR_CREDENTIAL_SCHEME',
    );
    expect(withSas.challenge).toEqual(['Bearer', 'SharedAccessSignature', 'DPoP']);
    const bearerOnly = await expectGatewayError(
      authenticate('Basic x', verifiers(false).v),
      'ERR_CREDENTIAL_SCHEME',
    );
    expect(bearerOnly.challenge).toEqual(['Bearer']);
  });

  it('refuses a DPoP-bound token sent as a bearer (RFC 9449 section 7.2), challenging with DPoP', async () => {
    const err = await expectGatewayError(
      authenticate(`SharedAccessSignature ${SAS}`, verifiers(true, true).v),
      'ERR_DPOP_BINDING',
    );
    expect(err.challenge).toEqual(['DPoP']);
  });

  it('parses a SAS credential as the raw query string', () => {
    expect(parseAuthorizationHeader(`SharedAccessSignature ${SAS}`)).toEqual({
      scheme: 'SharedAccessSignature',
      credential: SAS,
    });
  });
});
