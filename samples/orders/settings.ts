import { HmacKeyRing, parseSigningKeys } from '../../src/verifier';

/**
 * How the sample trusts the gateway. `keys` is the gateway's SAS key ring (`SAS_SIGNING_KEYS`):
 * the `x-gateway-principal` statement is signed with a key derived from it. With
 * `requirePrincipal`, a call without a valid statement for `orders` is refused with 401.
 */
export interface OrdersSettings {
  readonly keys: HmacKeyRing | undefined;
  readonly requirePrincipal: boolean;
}

/**
 * Settings from app settings, as under the Functions host: `SAS_SIGNING_KEYS` (the gateway's) and
 * `ORDERS_REQUIRE_PRINCIPAL` (default `true`; `false` turns the check off, for a quick try-out).
 * Fails closed: required but no keys means every call is refused.
 */
export function ordersSettingsFromEnv(env: Readonly<Record<string, string | undefined>>): OrdersSettings {
  const setting = env.SAS_SIGNING_KEYS?.trim();
  return {
    keys: setting ? new HmacKeyRing(parseSigningKeys(setting)) : undefined,
    requirePrincipal: env.ORDERS_REQUIRE_PRINCIPAL?.trim().toLowerCase() !== 'false',
  };
}
