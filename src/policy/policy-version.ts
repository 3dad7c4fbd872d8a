import { createHash } from 'node:crypto';
import { normalizeEtag } from '../http/etag';

/**
 * The version tag of a policy stored with this ETag, as a SAS token's `spv` carries it: the first
 * 66 bits of the SHA-256 of the ETag, base64url (11 characters).
 *
 * Why the ETag: Cosmos DB changes it on every write, so a narrowed, disabled-and-enabled or
 * deleted-and-re-created policy never keeps its tag, and the tokens it granted stop verifying
 * (a content hash would let an identical re-creation revive them). Why a digest: 11 characters a
 * policy in the token instead of the ETag's 36 to 38, and nothing of the store's internals.
 *
 * @example
 * ```ts
 * policyVersionTag('"00000000-0000-0000-1a2b-3c4d5e6f0000"'); // 11 base64url characters
 * ```
 */
export function policyVersionTag(etag: string): string {
  return createHash('sha256').update(normalizeEtag(etag), 'utf8').digest('base64url').slice(0, 11);
}
