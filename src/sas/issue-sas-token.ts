/**
 * Issuing a SAS token: the lifetime rule of docs/reference.md §6 and the signing itself.
 */
import { permissionsForActions } from '../policy/actions';
import type { SasGrant } from './sas-token';
import { randomText } from '../random';
import type { HmacKeyRing } from './hmac-key-ring';
import {
  SAS_VERSION,
  sasSignature,
  sasStringToSign,
  serializeSasToken,
  type SasTokenFields,
} from './sas-token';

/** Which limit decided a token's lifetime (logged with every issuance). */
export type LifetimeLimit = 'asked' | 'default' | 'max' | 'policy' | 'subject';

export interface LifetimeInputs {
  /** `requested_lifetime`, when sent. */
  readonly asked: number | undefined;
  readonly defaultTtlSeconds: number;
  readonly maxTtlSeconds: number;
  /** The smallest `maxTokenLifetimeSeconds` of the deciding policies, when any sets one. */
  readonly policyCapSeconds: number | undefined;
  /** The subject token's `exp`. */
  readonly subjectExpiresAt: number;
  readonly now: number;
}

/**
 * min(asked or default, max, every deciding policy's cap, the subject token's remaining life).
 * The result may be 0 or less when the subject token is (within skew) already expired: the
 * caller refuses to issue then.
 *
 * @example
 * ```ts
 * sasLifetime({ asked: 900, defaultTtlSeconds: 300, maxTtlSeconds: 3600, policyCapSeconds: 600, subjectExpiresAt: now + 3000, now });
 * // { seconds: 600, limitedBy: 'policy' }
 * ```
 */
export function sasLifetime(inputs: LifetimeInputs): { seconds: number; limitedBy: LifetimeLimit } {
  let seconds = inputs.asked ?? inputs.defaultTtlSeconds;
  let limitedBy: LifetimeLimit = inputs.asked === undefined ? 'default' : 'asked';
  const cap = (value: number | undefined, by: LifetimeLimit) => {
    if (value !== undefined && value < seconds) {
      seconds = value;
      limitedBy = by;
    }
  };
  cap(inputs.maxTtlSeconds, 'max');
  cap(inputs.policyCapSeconds, 'policy');
  cap(inputs.subjectExpiresAt - inputs.now, 'subject');
  return { seconds, limitedBy };
}

/** What a token grants and to whom, from `st` for `lifetimeSeconds`. */
export type SasTokenGrant = Pick<
  SasGrant,
  'resource' | 'pathPrefix' | 'actions' | 'policies' | 'policyVersions' | 'tid' | 'oid' | 'azp' | 'jkt'
> & {
  /** `st`, unix seconds. */
  readonly startsAt: number;
  readonly lifetimeSeconds: number;
};

/** A fresh token id: 128 random bits, base64url (22 characters). */
export function newSasId(): string {
  return randomText(16, 'base64url');
}

/**
 * Creates and signs a SAS token with the ring's signing key.
 *
 * @returns the token (a URL query string) and its fields.
 */
export function createSasToken(
  grant: SasTokenGrant,
  keys: HmacKeyRing,
  sid: string = newSasId(),
): { token: string; fields: SasTokenFields } {
  const fields: SasTokenFields = {
    sv: SAS_VERSION,
    sr: [grant.resource, ...grant.pathPrefix].join('/'),
    sp: permissionsForActions(grant.actions),
    st: grant.startsAt,
    se: grant.startsAt + grant.lifetimeSeconds,
    skn: keys.signing.name,
    sid,
    tid: grant.tid,
    oid: grant.oid,
    azp: grant.azp,
    spi: grant.policies,
    spv: grant.policyVersions,
    ...(grant.jkt === undefined ? {} : { jkt: grant.jkt }),
  };
  const sig = sasSignature(sasStringToSign(fields), keys.signing.key);
  return { token: serializeSasToken(fields, sig), fields };
}
