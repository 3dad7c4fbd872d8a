import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { ConfidentialClientApplication, Configuration, INetworkModule } from '@azure/msal-node';
import type { OnBehalfOfSettings } from '../../config/load-config';
import { GatewayError } from '../../errors';
import type { DownstreamCredential } from './downstream-credential';

/** The `@azure/msal-node` module, or the part of it the gateway uses. */
export interface MsalModule {
  readonly ConfidentialClientApplication: new (config: Configuration) => ConfidentialClientApplication;
}

/** Loads msal-node on first use: it is large, and most gateways never call on-behalf-of. */
export const loadMsalNode = (): Promise<MsalModule> => import('@azure/msal-node');

export interface OnBehalfOfOptions {
  /** Undefined: not configured, every on-behalf-of call is 502 with a log line saying so. */
  readonly settings: OnBehalfOfSettings | undefined;
  /** Authority host, e.g. `https://login.microsoftonline.com` (ENTRA_AUTHORITY). */
  readonly authorityHost: string;
  /** ENTRA_TENANT_ID; for `organizations` / `common` the caller's own tenant is used. */
  readonly tenantId: string;
  readonly multiTenant: boolean;
  readonly loadMsal: () => Promise<MsalModule>;
  /** msal's HTTP client; tests point it at a loopback token endpoint. */
  readonly networkClient?: INetworkModule;
}

function clientCredential(settings: OnBehalfOfSettings): NonNullable<Configuration['auth']> {
  if (settings.certificatePath !== undefined) {
    const pem = readFileSync(settings.certificatePath, 'utf8');
    const certificate = new X509Certificate(pem);
    return {
      clientId: settings.clientId,
      clientCertificate: {
        thumbprintSha256: certificate.fingerprint256.replaceAll(':', ''),
        privateKey: createPrivateKey(pem).export({ format: 'pem', type: 'pkcs8' }).toString(),
        x5c: certificate.toString(),
      },
    };
  }
  if (settings.clientSecret !== undefined)
    return { clientId: settings.clientId, clientSecret: settings.clientSecret };
  throw new Error('GATEWAY_CLIENT_SECRET or GATEWAY_CLIENT_CERTIFICATE_PATH is required for on-behalf-of');
}

/**
 * One msal-node confidential client for the gateway, built on the first on-behalf-of call.
 * msal keeps the tokens it obtains in its in-memory cache, keyed by a hash of the caller's token
 * and the scopes, and answers from it until shortly before expiry: a caller repeating the same
 * token costs no round trip to Entra.
 */
export class OnBehalfOfClient {
  private client: Promise<ConfidentialClientApplication> | undefined;

  constructor(private readonly options: OnBehalfOfOptions) {}

  /** A token for `scopes` on behalf of the caller whose Entra access token is `assertion`. */
  async acquire(assertion: string, scopes: readonly string[], tenant: string): Promise<string> {
    this.client ??= this.build().catch((err: unknown) => {
      this.client = undefined; // a broken setting is reported every call, and a fix is picked up
      throw err;
    });
    const client = await this.client;
    const authority = `${this.options.authorityHost}/${this.options.multiTenant ? tenant : this.options.tenantId}`;
    const result = await client.acquireTokenOnBehalfOf({
      oboAssertion: assertion,
      scopes: [...scopes],
      authority,
    });
    if (result === null || !result.accessToken) throw new Error('on-behalf-of returned no access token');
    return result.accessToken;
  }

  private async build(): Promise<ConfidentialClientApplication> {
    const { settings } = this.options;
    if (settings === undefined)
      throw new Error('GATEWAY_CLIENT_ID is not set: on-behalf-of is not configured');
    const auth = clientCredential(settings);
    const { ConfidentialClientApplication } = await this.options.loadMsal();
    const host = new URL(this.options.authorityHost).host;
    return new ConfidentialClientApplication({
      auth: {
        ...auth,
        authority: `${this.options.authorityHost}/${this.options.tenantId}`,
        // The authority comes from ENTRA_AUTHORITY, which the gateway already trusts: no
        // instance discovery against the public cloud (sovereign clouds and tests work alike).
        knownAuthorities: [host],
      },
      system: this.options.networkClient ? { networkClient: this.options.networkClient } : {},
    });
  }
}

/**
 * `auth.type: onBehalfOf`: `Authorization: Bearer <token>` obtained from Entra on behalf of the
 * caller's own Entra token. A SAS caller has no Entra token to exchange: 403
 * `ERR_OBO_REQUIRES_BEARER`. Any failure of the exchange is 502 `ERR_UPSTREAM_CREDENTIAL`; Entra's
 * message (which may name the user or the app) goes to the log only.
 */
export function onBehalfOfCredential(
  scopes: readonly string[],
  client: OnBehalfOfClient,
): DownstreamCredential {
  return {
    async headers(principal, callerToken) {
      if (principal.kind !== 'entra' || callerToken === undefined) {
        throw new GatewayError('ERR_OBO_REQUIRES_BEARER');
      }
      try {
        return { authorization: `Bearer ${await client.acquire(callerToken, scopes, principal.tid)}` };
      } catch (err) {
        throw new GatewayError('ERR_UPSTREAM_CREDENTIAL', undefined, { cause: err });
      }
    },
  };
}
