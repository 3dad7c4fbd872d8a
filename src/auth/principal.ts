/**
 * Who is calling, as the rest of the gateway sees it: the claims authorization may use, taken
 * from a verified Entra ID access token or a SAS token this gateway issued. Never `email`,
 * `upn` or `preferred_username` (mutable, not authorization-grade).
 */
import type { SasGrant } from '../verifier/verify-sas-token';

export type CredentialKind = 'entra' | 'sas';

export interface Principal {
  readonly kind: CredentialKind;
  /** Object id of the user or service principal. */
  readonly oid: string | undefined;
  /** Tenant id (lower-case GUID). */
  readonly tid: string;
  /** Client application id: `azp` (v2) or `appid` (v1). */
  readonly azp: string | undefined;
  /** App roles (`roles`). */
  readonly roles: readonly string[];
  /** Delegated scopes (`scp`, space-separated in the token). */
  readonly scopes: readonly string[];
  /** Group object ids (`groups`); empty when {@link groupsOverage}. */
  readonly groups: readonly string[];
  /**
   * The token carries Entra's groups-overage marker instead of its groups (the user is in more
   * groups than a token holds: `_claim_names.groups`, or `hasgroups: true`). Its group membership
   * is unknown, so a policy that tests groups never lets it pass: an allow that needs a group
   * does not match, a deny that names groups applies (fail closed).
   */
  readonly groupsOverage: boolean;
  /** `app` for app-only tokens (client credentials), `user` for delegated ones. */
  readonly idtyp: 'app' | 'user';
  /** Unix seconds after which the credential is no longer valid. */
  readonly expiresAt: number;
  /** Every claim of the credential, for policy conditions and `{claims.X}` paths. */
  readonly claims: Readonly<Record<string, unknown>>;
  /**
   * For `kind: 'sas'`: what the token grants (resource, path prefix, actions, `sid`, `spi`).
   * A SAS principal has no roles, scopes or groups: the grant was decided at issuance.
   */
  readonly sas?: SasGrant;
}
