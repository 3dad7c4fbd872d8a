/**
 * The mutate stage's downstream credential: what the gateway adds so that the downstream trusts
 * the call. One narrow interface, one implementation per `auth.type`, and one registry that
 * builds and keeps them (see {@link DownstreamCredentials}).
 */
import type { Principal } from '../../auth/principal';
import type { ResourceAuth } from '../../policy/model';

/** Headers that authenticate the gateway to one downstream. */
export interface DownstreamCredential {
  /**
   * @param principal the authenticated caller
   * @param callerToken the caller's Entra access token (Bearer callers only): on-behalf-of needs it
   * @throws {GatewayError} 502 `ERR_UPSTREAM_CREDENTIAL` when the credential cannot be obtained
   *   (the reason goes to the log as `cause`), 403 `ERR_OBO_REQUIRES_BEARER` for on-behalf-of
   *   without an Entra token
   */
  headers(principal: Principal, callerToken?: string): Promise<Record<string, string>>;
}

/** Builds the credential of one `auth` block. */
export type DownstreamCredentialFactory<T extends ResourceAuth['type']> = (
  auth: Extract<ResourceAuth, { type: T }>,
) => DownstreamCredential;

/** `auth.type: none`: nothing to add. */
export const noCredential: DownstreamCredential = {
  headers: () => Promise.resolve({}),
};

/**
 * The registry: one credential object per distinct `auth` block, built on first use and kept,
 * so token caches live as long as the gateway. Keyed by the block's JSON, so a resource whose
 * `auth` changes gets a fresh credential while an unchanged one keeps its cache.
 */
export class DownstreamCredentials {
  private readonly built = new Map<string, DownstreamCredential>();

  constructor(
    private readonly factories: {
      readonly [T in ResourceAuth['type']]: DownstreamCredentialFactory<T>;
    },
  ) {}

  /** The credential for a resource's `auth` block. */
  for(auth: ResourceAuth): DownstreamCredential {
    if (auth.type === 'none') return noCredential;
    const key = JSON.stringify(auth);
    let credential = this.built.get(key);
    if (credential === undefined) {
      const factory = this.factories[auth.type] as DownstreamCredentialFactory<typeof auth.type>;
      credential = factory(auth);
      this.built.set(key, credential);
    }
    return credential;
  }
}
