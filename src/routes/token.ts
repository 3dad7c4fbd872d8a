/**
 * `POST /api/token`: RFC 8693 token exchange, Entra access token in, a short-lived SAS token out
 * that grants exactly the asked actions on exactly the asked resource or path scope.
 *
 * Stages: read the request (syntax) → verify the subject token → verify the DPoP proof, when one
 * is sent (RFC 9449 section 5: `invalid_dpop_proof`) → the resource must exist (`invalid_target`)
 * → every asked action allowed on the whole subtree (`evaluateScope`, else `invalid_scope`) →
 * lifetime rule → sign, bound to the proof's key when there was one (`token_type: DPoP`). Fails
 * closed (503) while policies are not loaded.
 */
import { authContextRequired } from '../auth/entra/claims-challenge';
import type { Principal } from '../auth/principal';
import { nowSeconds } from '../clock';
import { GatewayError } from '../errors';
import { gatewayApiBases, gatewayUrls } from '../http/request-context';
import { authorize } from '../decision/authorize';
import type { RequestScope, Route } from '../pipeline/operation';
import { createSasToken, sasLifetime } from '../sas/issue-sas-token';
import { oauthErrorResponse, TOKEN_RESPONSE_HEADERS } from '../sas/oauth-error';
import { ACCESS_TOKEN_TYPE, readTokenRequest, type TokenRequest } from '../sas/token-request';
import type { Services } from '../services';

type Deps = Pick<Services, 'entra' | 'state' | 'config' | 'clock' | 'sasKeys' | 'logger' | 'dpop'>;

/** The success body (RFC 8693 section 2.2.1). */
export interface TokenExchangeResponse {
  readonly access_token: string;
  readonly issued_token_type: typeof ACCESS_TOKEN_TYPE;
  /** `DPoP` when the token is bound to the key of the request's DPoP proof (RFC 9449 section 5). */
  readonly token_type: 'SharedAccessSignature' | 'DPoP';
  readonly expires_in: number;
  readonly scope: string;
}

const IDENTIFIER = /^[A-Za-z0-9._:@-]{1,128}$/;
const isTokenIdentifier = (value: string | undefined): value is string =>
  value !== undefined && IDENTIFIER.test(value);

/**
 * The subject token's principal. A refused token is `400 invalid_request` in the form mode
 * (RFC 8693 section 2.2.2, with the Entra code as `subject_token_error`) and a 401 with a Bearer
 * challenge in the JSON mode, where it is the request's own credential.
 */
async function subjectPrincipal(deps: Pick<Services, 'entra'>, request: TokenRequest): Promise<Principal> {
  const subjectError = (code: string) =>
    new GatewayError('ERR_SUBJECT_TOKEN_INVALID', `The subject token was refused (${code})`, {
      extensions: { subject_token_error: code },
    });
  let principal: Principal;
  try {
    principal = await deps.entra.verify(request.subjectToken);
  } catch (err) {
    if (request.mode === 'form' && err instanceof GatewayError && err.status === 401)
      throw subjectError(err.code);
    throw err;
  }
  // `oid` (revocation by user) and `azp` are signed into the token: a token without them is refused.
  if (!isTokenIdentifier(principal.oid) || !isTokenIdentifier(principal.azp)) {
    if (request.mode === 'form') throw subjectError('ERR_TOKEN_CLAIMS');
    throw new GatewayError('ERR_TOKEN_CLAIMS', 'The token lacks "oid" or "azp"');
  }
  return principal;
}

/** Runs one exchange; errors are thrown as GatewayErrors and rendered by `oauthErrorResponse`. */
export const token: Route<Deps> = {
  name: 'token',
  template: 'token',
  methods: ['POST'],
  audit: 'token',
  renderError: oauthErrorResponse,
  run: exchange,
};

async function exchange(deps: Deps, { correlationId, request, audit }: RequestScope) {
  const asked = await readTokenRequest(request, gatewayApiBases(deps.config, request.url));
  audit.target(
    asked.resource,
    asked.actions.join(' '),
    asked.pathPrefix.length === 0 ? '/' : `/${asked.pathPrefix.join('/')}`,
  );
  const principal = await subjectPrincipal(deps, asked);
  audit.caller(principal);
  // After the subject token: a caller without a valid Entra token never reaches the replay store.
  const proofHeader = request.headers.get('dpop');
  const jkt =
    proofHeader === null
      ? undefined
      : (
          await deps.dpop.verify(
            proofHeader,
            { method: request.method, urls: gatewayUrls(deps.config, request.url) },
            'token',
          )
        ).jkt;
  const snapshot = deps.state.snapshot();
  if (!snapshot.resources.has(asked.resource)) {
    throw new GatewayError('ERR_TARGET_INVALID', `No resource named "${asked.resource}"`);
  }
  const decision = authorize(snapshot, jkt === undefined ? principal : { ...principal, jkt }, {
    resource: asked.resource,
    actions: asked.actions,
    subtree: asked.pathPrefix,
  });
  audit.outcome(decision.policies, decision.reasonCode);
  audit.decidedFor(principal, snapshot.index.claimsRead, decision, jkt !== undefined);
  if (decision.authContext !== undefined)
    throw authContextRequired(deps.config.entra, principal.claims, decision.authContext, true);
  if (decision.reasonCode === 'DPOP_REQUIRED')
    throw new GatewayError('ERR_TOKEN_DPOP_REQUIRED', decision.reason);
  if (!decision.allowed) throw new GatewayError('ERR_SCOPE_INVALID', decision.reason);

  const now = nowSeconds(deps.clock);
  const { sas } = deps.config;
  const lifetime = sasLifetime({
    asked: asked.requestedLifetime,
    defaultTtlSeconds: sas.defaultTtlSeconds,
    maxTtlSeconds: sas.maxTtlSeconds,
    policyCapSeconds: decision.maxTokenLifetimeSeconds,
    subjectExpiresAt: principal.expiresAt,
    now,
  });
  if (lifetime.seconds < 1) {
    throw new GatewayError('ERR_SUBJECT_TOKEN_INVALID', 'The subject token has expired', {
      extensions: { subject_token_error: 'ERR_TOKEN_EXPIRED' },
    });
  }
  const { token, fields } = createSasToken(
    {
      resource: asked.resource,
      pathPrefix: asked.pathPrefix,
      actions: asked.actions,
      policies: decision.policies,
      policyVersions: decision.policies.map((id) => snapshot.index.byId.get(id)!.version),
      tid: principal.tid,
      oid: principal.oid!,
      azp: principal.azp!,
      startsAt: now,
      lifetimeSeconds: lifetime.seconds,
      ...(jkt === undefined ? {} : { jkt }),
    },
    deps.sasKeys,
  );
  // The audit line names the token by its id; the token itself never reaches a log.
  deps.logger.log('info', 'sas.issued', {
    correlationId,
    sid: fields.sid,
    oid: fields.oid,
    tid: fields.tid,
    azp: fields.azp,
    sr: fields.sr,
    sp: fields.sp,
    spi: fields.spi,
    expiresIn: lifetime.seconds,
    lifetimeLimitedBy: lifetime.limitedBy,
    keyName: fields.skn,
    ...(jkt === undefined ? {} : { jkt }),
  });
  const body: TokenExchangeResponse = {
    access_token: token,
    issued_token_type: ACCESS_TOKEN_TYPE,
    token_type: jkt === undefined ? 'SharedAccessSignature' : 'DPoP',
    expires_in: lifetime.seconds,
    scope: asked.actions.join(' '),
  };
  return { status: 200, headers: { ...TOKEN_RESPONSE_HEADERS }, body: JSON.stringify(body) };
}
