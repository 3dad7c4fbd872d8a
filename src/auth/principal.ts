/**
 * Who is calling, as the rest of the gateway sees it: the subject policies read (made by
 * `subjectFromClaims` in src/policy/subject.ts from a verified Entra ID access token), or the
 * grant of a SAS token this gateway issued. Never `email`, `upn` or `preferred_username`
 * (mutable, not authorization-grade).
 */
import type { ClaimsSubject } from '../policy/subject';
import type { SasGrant } from '../sas/sas-token';

export type CredentialKind = 'entra' | 'sas';

export interface Principal extends ClaimsSubject {
  readonly kind: CredentialKind;
  /** Unix seconds after which the credential is no longer valid. */
  readonly expiresAt: number;
  /**
   * For `kind: 'sas'`: what the token grants (resource, path prefix, actions, `sid`, `spi`).
   * A SAS principal has no roles, scopes or groups: the grant was decided at issuance.
   */
  readonly sas?: SasGrant;
}
