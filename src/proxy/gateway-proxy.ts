/**
 * The proxy's per-gateway state: upstream connection pools, downstream credentials with their
 * token caches, and the signer of `x-gateway-principal`. Built once per gateway (the
 * composition root passes it its config and I/O), closed with it.
 */
import type { TokenCredential } from '@azure/core-auth';
import type { INetworkModule } from '@azure/msal-node';
import type { Clock } from '../clock';
import type { Metrics } from '../observability/metrics';
import { systemClock } from '../clock';
import type { Config, Environment } from '../config/load-config';
import { parseTrustedUrl } from '../config/url-rules';
import type { Logger } from '../logger';
import { StatementSigner } from './principal-statement';
import { AccessTokenCache } from '../http/access-token-cache';
import { DownstreamCredentials } from './credentials/downstream-credential';
import { functionKeyCredential } from './credentials/function-key';
import { managedIdentityCredential } from './credentials/managed-identity';
import {
  loadMsalNode,
  OnBehalfOfClient,
  onBehalfOfCredential,
  type MsalModule,
} from './credentials/on-behalf-of';
import { UpstreamPools, type UpstreamPoolOptions } from './upstream-pools';
import { DeadlineWheel } from './deadlines';

/** The I/O the proxy is built on; everything has a production default. */
export interface GatewayProxyDeps {
  readonly clock?: Clock;
  readonly logger: Logger;
  /** App settings for `functionKey` keys (the names `DOWNSTREAM_KEY_SETTINGS` lists). Default `process.env`. */
  readonly env?: Environment;
  /**
   * The managed identity credential. Default: `DefaultAzureCredential` from `@azure/identity`,
   * loaded on the first `managedIdentity` call (it is a large module; most cold starts never need it).
   */
  readonly tokenCredential?: TokenCredential;
  /** Loads `@azure/msal-node`; default a dynamic import on the first on-behalf-of call. */
  readonly loadMsal?: () => Promise<MsalModule>;
  /** msal's HTTP client (tests point it at a loopback token endpoint). */
  readonly msalNetworkClient?: INetworkModule;
  readonly pools?: UpstreamPoolOptions;
  /** Signs `x-gateway-principal` (the gateway's statement signer); default built from config. */
  readonly statements?: StatementSigner;
  /** Upstream latency is recorded here. */
  readonly metrics?: Metrics;
  /** Where on-behalf-of asks Entra for tokens. Default `ENTRA_AUTHORITY` (tests: a loopback endpoint). */
  readonly authorityHost?: string;
  /** Upstream hosts checked on every call. Default `DOWNSTREAM_ALLOWED_HOSTS` (tests: narrowed since). */
  readonly allowedHosts?: readonly string[];
}

/** A resource's upstream, parsed once: where to connect and the path prefix to keep. */
export interface UpstreamTarget {
  readonly origin: string;
  readonly hostname: string;
  /** `/api/orders` (no trailing `/`), or `''`. */
  readonly basePath: string;
  /** Why the URL is not one the gateway may call (https, or http on loopback), if it is not. */
  readonly problem: string | undefined;
}

const loadDefaultAzureCredential = async (): Promise<TokenCredential> => {
  const { DefaultAzureCredential } = await import('@azure/identity');
  return new DefaultAzureCredential();
};

/** The proxy's state for one gateway. */
export class GatewayProxy {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  readonly allowedHosts: readonly string[];
  readonly statements: StatementSigner;
  /** `GATEWAY_ISSUER`; undefined: each request's own base URL. */
  readonly issuer: string | undefined;
  readonly pools: UpstreamPools;
  /** Deadlines of calls in flight (a resource's `timeoutMs` over the whole exchange). */
  readonly deadlines: DeadlineWheel;
  readonly metrics: Metrics | undefined;
  readonly credentials: DownstreamCredentials;
  private readonly targets = new Map<string, UpstreamTarget>();

  constructor(config: Config, deps: GatewayProxyDeps) {
    this.clock = deps.clock ?? systemClock;
    this.logger = deps.logger;
    this.maxBodyBytes = config.proxyMaxBodyBytes;
    this.allowedHosts = deps.allowedHosts ?? config.downstreamAllowedHosts;
    this.statements = deps.statements ?? new StatementSigner(config.statement.signingKeys, this.clock);
    this.issuer = config.statement.issuer;
    this.pools = new UpstreamPools(deps.pools);
    this.deadlines = new DeadlineWheel(this.clock);
    this.metrics = deps.metrics;
    const env = deps.env ?? process.env;
    const tokenCache = new AccessTokenCache(this.clock);
    let tokenCredential: Promise<TokenCredential> | undefined = deps.tokenCredential
      ? Promise.resolve(deps.tokenCredential)
      : undefined;
    const credential = () => {
      tokenCredential ??= loadDefaultAzureCredential().catch((err: unknown) => {
        tokenCredential = undefined;
        throw err;
      });
      return tokenCredential;
    };
    const obo = new OnBehalfOfClient({
      settings: config.onBehalfOf,
      authorityHost: deps.authorityHost ?? config.entra.authority,
      tenantId: config.entra.tenantId,
      multiTenant: config.entra.multiTenant,
      loadMsal: deps.loadMsal ?? loadMsalNode,
      ...(deps.msalNetworkClient ? { networkClient: deps.msalNetworkClient } : {}),
    });
    this.credentials = new DownstreamCredentials({
      none: () => ({ headers: () => Promise.resolve({}) }),
      functionKey: (auth) => functionKeyCredential(auth.keySetting, env),
      managedIdentity: (auth) => managedIdentityCredential(auth.scope, credential, tokenCache),
      onBehalfOf: (auth) => onBehalfOfCredential(auth.scopes, obo),
    });
  }

  /** The parsed upstream of a resource (cached per upstream URL; the allow list is checked per call). */
  target(upstream: string): UpstreamTarget {
    let target = this.targets.get(upstream);
    if (target === undefined) {
      const parsed = parseTrustedUrl(upstream);
      target =
        'problem' in parsed
          ? { origin: '', hostname: '', basePath: '', problem: parsed.problem }
          : {
              origin: parsed.url.origin,
              hostname: parsed.url.hostname,
              basePath: parsed.url.pathname.replace(/\/+$/, ''),
              problem: undefined,
            };
      if (this.targets.size > 10_000) this.targets.clear(); // bounded: upstreams come from admin writes
      this.targets.set(upstream, target);
    }
    return target;
  }

  /** Closes the upstream pools (calls in flight finish), then stops the deadline timer. */
  async close(): Promise<void> {
    await this.pools.close();
    this.deadlines.close();
  }
}
