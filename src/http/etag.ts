/**
 * ETags compare without quotes or a weak prefix: Cosmos DB returns quoted ones (`"0000-…"`), the
 * embedded server bare ones, and HTTP clients send either in `If-Match`.
 */
export function normalizeEtag(etag: string): string {
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}
