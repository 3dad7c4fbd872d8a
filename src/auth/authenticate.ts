// STUB: replaced by the Entra validation work (helper). Shape only.
import { GatewayError } from '../errors';
import type { Principal } from './principal';

export interface CredentialVerifiers {
  entra: { verify(token: string): Promise<Principal> };
}

export async function authenticate(authorization: string | null, verifiers: CredentialVerifiers): Promise<Principal> {
  if (authorization === null) throw new GatewayError('ERR_CREDENTIAL_MISSING');
  const [scheme, token] = authorization.split(' ');
  if (scheme !== 'Bearer' || token === undefined) throw new GatewayError('ERR_CREDENTIAL_SCHEME');
  return verifiers.entra.verify(token);
}
