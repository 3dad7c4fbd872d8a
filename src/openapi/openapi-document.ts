/**
 * The OpenAPI 3.1 document of every route the gateway serves (`GET /api/openapi.json`, contract
 * section 9): paths, credentials, bodies and error answers. One place: the route table says which
 * routes and methods exist, this module what each takes and answers, and tests check both that
 * the two agree and that real answers of the running gateway fit it.
 */
import { DOCUMENT_KINDS, type DocumentKindName } from '../admin/document-kinds';
import { ERROR_CODES } from '../errors';

type Schema = Record<string, unknown>;
type Operation = Record<string, unknown>;

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: Schema) => ({ 'application/json': { schema } });
const problem = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: ref('Problem') } },
});

/** The problem answers every credentialed route may give, by status. */
const CREDENTIAL_ERRORS = {
  '401': {
    ...problem('No or an invalid credential (`WWW-Authenticate` says which schemes)'),
    headers: { 'WWW-Authenticate': { schema: { type: 'string' } } },
  },
  '429': problem(
    'Too many requests from this caller or IP, or a quota used up (`ERR_QUOTA_EXCEEDED`; `Retry-After`, `RateLimit`)',
  ),
  '503': problem('A dependency is unavailable; the gateway fails closed'),
};
const ADMIN_ERRORS = {
  ...CREDENTIAL_ERRORS,
  '400': problem('Invalid id or body (`field` names the field at fault)'),
  '403': problem('The caller lacks the gateway admin role'),
};

const PolicyOrResource: Schema = {
  type: 'object',
  description: 'A policy (docs/policies.md) or resource document, as stored, defaults applied',
  additionalProperties: true,
};

const ADMIN_ID = { name: 'id', in: 'path', required: true, schema: { type: 'string' } };

function adminCollection(noun: DocumentKindName): Record<string, Operation> {
  const id = { ...ADMIN_ID, name: DOCUMENT_KINDS[noun].idField };
  const security = [{ bearer: [] }];
  return {
    [`/api/${noun}`]: {
      get: {
        operationId: `list-${noun}`,
        summary: `Every ${DOCUMENT_KINDS[noun].singular} (admin)`,
        security,
        responses: {
          '200': {
            description: 'Sorted by id',
            content: json({
              type: 'object',
              required: ['items', 'count'],
              properties: { items: { type: 'array', items: PolicyOrResource }, count: { type: 'integer' } },
            }),
          },
          ...ADMIN_ERRORS,
        },
      },
    },
    [`/api/${noun}/{${id.name}}`]: {
      parameters: [id],
      get: {
        operationId: `get-${noun}`,
        summary: 'One document, with its ETag (admin)',
        security,
        responses: {
          '200': {
            description: 'The document',
            headers: { ETag: { schema: { type: 'string' } } },
            content: json(PolicyOrResource),
          },
          '404': problem('No such document'),
          ...ADMIN_ERRORS,
        },
      },
      put: {
        operationId: `put-${noun}`,
        summary: 'Create or replace (admin); If-Match honoured',
        security,
        parameters: [{ name: 'If-Match', in: 'header', required: false, schema: { type: 'string' } }],
        requestBody: { required: true, content: json(PolicyOrResource) },
        responses: {
          '200': { description: 'Replaced', content: json(PolicyOrResource) },
          '201': { description: 'Created', content: json(PolicyOrResource) },
          '412': problem('The ETag is stale'),
          '413': problem('The body is too large'),
          '415': problem('Not JSON'),
          ...ADMIN_ERRORS,
        },
      },
      delete: {
        operationId: `delete-${noun}`,
        summary: 'Soft delete (admin); If-Match honoured',
        security,
        responses: {
          '204': { description: 'Deleted' },
          '404': problem('No such document'),
          '412': problem('The ETag is stale'),
          ...ADMIN_ERRORS,
        },
      },
    },
  };
}

const PROXY_METHODS = ['get', 'head', 'post', 'put', 'patch', 'delete'] as const;

function proxyPath(): Record<string, Operation> {
  const operation = (method: string): Operation => ({
    operationId: `proxy-${method}`,
    summary: 'Forward an allowed call to the resource upstream (docs/proxy.md)',
    security: [{ bearer: [] }, { sas: [] }, { dpop: [] }],
    responses: {
      default: { description: "The downstream's answer, as it came" },
      '400': problem('A path that escapes the resource (`..`, `%2e`, `%2f`, `\\`, ...)'),
      '403': problem('Policy does not allow it, or a SAS token does not cover it'),
      '404': problem('No such resource'),
      '413': problem('The body is over PROXY_MAX_BODY_BYTES'),
      '502': problem('The upstream is unreachable, or its credential could not be obtained'),
      '504': problem("The upstream did not answer within the resource's timeoutMs"),
      ...CREDENTIAL_ERRORS,
    },
  });
  return {
    '/api/proxy/{resource}/{path}': {
      parameters: [
        { name: 'resource', in: 'path', required: true, schema: { type: 'string' } },
        {
          name: 'path',
          in: 'path',
          required: true,
          description: 'The path inside the resource: any number of segments (a catch-all), possibly none',
          schema: { type: 'string' },
        },
      ],
      ...Object.fromEntries(PROXY_METHODS.map((m) => [m, operation(m)])),
    },
  };
}

const wellKnown = (operationId: string, summary: string, schema: Schema): Operation => ({
  get: {
    operationId,
    summary,
    security: [],
    responses: { '200': { description: summary, content: json(schema) } },
  },
});

const SCHEMAS: Record<string, Schema> = {
  Problem: {
    type: 'object',
    description: 'RFC 9457 problem details',
    required: ['type', 'title', 'status', 'code', 'correlationId'],
    properties: {
      type: { type: 'string' },
      title: { type: 'string' },
      status: { type: 'integer' },
      code: { type: 'string', enum: Object.keys(ERROR_CODES) },
      detail: { type: 'string' },
      correlationId: { type: 'string' },
      field: { type: ['string', 'null'] },
      claims: { type: 'string' },
      authContext: { type: 'string' },
    },
  },
  OAuthError: {
    type: 'object',
    description: 'RFC 6749 section 5.2, with the stable code and correlation id',
    required: ['error', 'code', 'correlationId'],
    properties: {
      error: { type: 'string' },
      error_description: { type: 'string' },
      code: { type: 'string', enum: Object.keys(ERROR_CODES) },
      correlationId: { type: 'string' },
      subject_token_error: { type: 'string' },
      claims: {
        type: 'string',
        description:
          'With interaction_required (ERR_AUTH_CONTEXT_REQUIRED): the claims request to send to Entra, base64 (docs/step-up.md)',
      },
    },
  },
  DecisionRequest: {
    type: 'object',
    required: ['resource', 'action'],
    properties: {
      resource: { type: 'string' },
      action: { type: 'string', enum: ['read', 'create', 'write', 'delete'] },
      path: { type: 'string' },
      principal: { type: 'object', description: 'Admins only: decide for these claims (what-if)' },
    },
    additionalProperties: false,
  },
  Decision: {
    type: 'object',
    required: ['allowed', 'decision', 'reason', 'policies'],
    properties: {
      allowed: { type: 'boolean' },
      decision: { type: 'string', enum: ['allow', 'deny'] },
      reason: { type: 'string' },
      reasonCode: { type: 'string' },
      policies: { type: 'array', items: { type: 'string' } },
      candidates: { type: 'array', items: { type: 'object' } },
      authContext: {
        type: 'string',
        description: 'With reasonCode AUTH_CONTEXT_REQUIRED: the authentication context to step up to',
      },
      claims: {
        type: 'string',
        description:
          "With reasonCode AUTH_CONTEXT_REQUIRED: Microsoft's claims request for it, base64 (docs/step-up.md)",
      },
      quota: {
        type: 'array',
        description:
          'Allowed, on a resource with quotas: what is left of each for the caller (nothing spent)',
        items: {
          type: 'object',
          required: ['name', 'limit', 'remaining', 'resetSeconds'],
          properties: {
            name: { type: 'string' },
            limit: { type: 'integer' },
            remaining: { type: 'integer' },
            resetSeconds: { type: 'integer' },
          },
        },
      },
    },
  },
  TokenRequest: {
    type: 'object',
    required: ['scope'],
    properties: {
      grant_type: { const: 'urn:ietf:params:oauth:grant-type:token-exchange' },
      subject_token: { type: 'string', description: 'Form mode only: the Entra access token' },
      subject_token_type: { const: 'urn:ietf:params:oauth:token-type:access_token' },
      resource: { type: 'string', description: '`orders`, `orders/customers/42`, or the gateway URL of it' },
      audience: { type: 'string', description: 'The resource name (RFC 8693 logical name)' },
      scope: { type: 'string', description: 'Actions, space-separated: read create write delete' },
      requested_lifetime: { type: ['string', 'integer'] },
    },
  },
  TokenResponse: {
    type: 'object',
    required: ['access_token', 'issued_token_type', 'token_type', 'expires_in', 'scope'],
    properties: {
      access_token: { type: 'string' },
      issued_token_type: { const: 'urn:ietf:params:oauth:token-type:access_token' },
      token_type: { enum: ['SharedAccessSignature', 'DPoP'] },
      expires_in: { type: 'integer' },
      scope: { type: 'string' },
    },
  },
  Revocation: {
    type: 'object',
    required: ['id', 'kind', 'revokedAt'],
    properties: {
      id: { type: 'string' },
      kind: { enum: ['sid', 'oid'] },
      sid: { type: 'string' },
      oid: { type: 'string' },
      before: { type: 'integer' },
      revokedAt: { type: 'integer' },
      purgeAfter: { type: 'integer' },
    },
  },
  Health: {
    type: 'object',
    required: ['status', 'failing', 'checks'],
    properties: {
      status: { enum: ['healthy', 'degraded', 'unhealthy'] },
      failing: { type: 'array', items: { type: 'string' } },
      checks: { type: 'object' },
    },
  },
  AuditPage: {
    type: 'object',
    required: ['items'],
    properties: { items: { type: 'array', items: ref('AuditRecord') }, next: { type: 'string' } },
  },
  AuditRecord: {
    type: 'object',
    required: [
      'id',
      'pk',
      'time',
      'ts',
      'correlationId',
      'operation',
      'decision',
      'policies',
      'reasonCode',
      'status',
    ],
    properties: {
      id: { type: 'string' },
      pk: { type: 'string' },
      time: { type: 'string' },
      ts: { type: 'integer' },
      correlationId: { type: 'string' },
      operation: { enum: ['authorize', 'token', 'proxy', 'admin', 'revocation'] },
      oid: { type: ['string', 'null'] },
      tid: { type: ['string', 'null'] },
      azp: { type: ['string', 'null'] },
      credential: { enum: ['entra', 'sas', 'none'] },
      resource: { type: ['string', 'null'] },
      action: { type: ['string', 'null'] },
      path: { type: ['string', 'null'] },
      decision: { enum: ['allow', 'deny', 'error'] },
      policies: { type: 'array', items: { type: 'string' } },
      reasonCode: { type: 'string' },
      status: { type: 'integer' },
      latencyMs: { type: 'number' },
      inputs: {
        description:
          'What the policies read of the caller when the gateway decided (docs/policy-analysis.md); null when no policy decision was made for an Entra caller; absent on older records',
        oneOf: [{ type: 'null' }, ref('AuditInputs')],
      },
    },
  },
  AuditInputs: {
    type: 'object',
    required: ['decided', 'reason', 'roles', 'scopes', 'idtyp', 'claims'],
    additionalProperties: false,
    properties: {
      decided: { enum: ['allow', 'deny'] },
      reason: { type: 'string' },
      roles: { type: 'array', items: { type: 'string' } },
      scopes: { type: 'array', items: { type: 'string' } },
      groups: { type: 'array', items: { type: 'string' } },
      groupsOverage: { const: true },
      groupsCapped: { const: true },
      idtyp: { enum: ['app', 'user'] },
      dpop: { const: true },
      claims: { type: 'object' },
      unrecorded: { type: 'array', items: { type: 'string' } },
    },
  },
  Jwks: {
    type: 'object',
    required: ['keys'],
    properties: { keys: { type: 'array', items: { type: 'object', required: ['kty', 'kid'] } } },
  },
  Metadata: {
    type: 'object',
    required: ['issuer', 'jwks_uri', 'token_endpoint'],
    properties: {
      issuer: { type: 'string' },
      jwks_uri: { type: 'string' },
      token_endpoint: { type: 'string' },
    },
  },
};

/** The paths, built once: what each route takes and answers. */
const PATHS: Record<string, Operation> = {
  '/api/health': {
    get: {
      operationId: 'health',
      summary:
        'Whether configuration, Cosmos DB, policies, the identity provider and the audit trail are usable',
      security: [],
      responses: {
        '200': { description: 'Healthy or degraded', content: json(ref('Health')) },
        '503': { description: 'Something is down (`failing`)', content: json(ref('Health')) },
      },
    },
  },
  '/api/authorize': {
    post: {
      operationId: 'authorize',
      summary: 'The decision for the caller (or, for an admin, given claims): why allowed or denied',
      security: [{ bearer: [] }, { sas: [] }, { dpop: [] }],
      requestBody: { required: true, content: json(ref('DecisionRequest')) },
      responses: {
        '200': { description: 'A decision, allow or deny', content: json(ref('Decision')) },
        '400': problem('Invalid body'),
        '403': problem('A what-if from a caller without the admin role'),
        '413': problem('The body is too large'),
        '415': problem('Not JSON'),
        ...CREDENTIAL_ERRORS,
      },
    },
  },
  '/api/token': {
    post: {
      operationId: 'token',
      summary: 'RFC 8693 token exchange: an Entra access token for a scoped SAS token (bound with DPoP)',
      security: [{}, { bearer: [] }],
      parameters: [{ name: 'DPoP', in: 'header', required: false, schema: { type: 'string' } }],
      requestBody: {
        required: true,
        content: {
          'application/x-www-form-urlencoded': { schema: ref('TokenRequest') },
          'application/json': { schema: ref('TokenRequest') },
        },
      },
      responses: {
        '200': {
          description: 'Issued',
          headers: { 'Cache-Control': { schema: { const: 'no-store' } } },
          content: json(ref('TokenResponse')),
        },
        '400': {
          description: 'invalid_request, invalid_scope, invalid_target, ...',
          content: json(ref('OAuthError')),
        },
        '401': { description: 'A bad credential (JSON mode)', content: json(ref('OAuthError')) },
        '413': { description: 'The body is too large', content: json(ref('OAuthError')) },
        '415': { description: 'Neither a form nor JSON', content: json(ref('OAuthError')) },
        '429': { description: 'Too many requests', content: json(ref('OAuthError')) },
        '503': { description: 'temporarily_unavailable', content: json(ref('OAuthError')) },
      },
    },
  },
  ...adminCollection('policies'),
  ...adminCollection('resources'),
  '/api/revocations': {
    post: {
      operationId: 'revoke',
      summary:
        'Revoke one SAS token (`{"sid"}`) or every token of a user before a time (`{"oid","before"}`) (admin)',
      security: [{ bearer: [] }],
      requestBody: {
        required: true,
        content: json({
          oneOf: [
            {
              type: 'object',
              required: ['sid'],
              properties: { sid: { type: 'string' } },
              additionalProperties: false,
            },
            {
              type: 'object',
              required: ['oid'],
              properties: { oid: { type: 'string' }, before: { type: 'integer' } },
              additionalProperties: false,
            },
          ],
        }),
      },
      responses: {
        '200': { description: 'A later oid revocation already holds', content: json(ref('Revocation')) },
        '201': { description: 'Stored', content: json(ref('Revocation')) },
        '413': problem('The body is too large'),
        '415': problem('Not JSON'),
        ...ADMIN_ERRORS,
      },
    },
  },
  '/api/audit': {
    get: {
      operationId: 'audit',
      summary: 'One page of the audit trail (admin)',
      security: [{ bearer: [] }],
      parameters: ['oid', 'from', 'to', 'limit', 'cursor'].map((name) => ({
        name,
        in: 'query',
        required: false,
        schema: { type: 'string' },
      })),
      responses: {
        '200': { description: 'Records, and `next` when more', content: json(ref('AuditPage')) },
        ...ADMIN_ERRORS,
      },
    },
  },
  ...proxyPath(),
  '/api/.well-known/jwks.json': wellKnown('jwks', "The public keys of the gateway's statements", ref('Jwks')),
  '/api/.well-known/openid-configuration': wellKnown(
    'openid-configuration',
    'Discovery: issuer and jwks_uri, for downstreams verifying x-gateway-principal',
    ref('Metadata'),
  ),
  '/api/.well-known/oauth-authorization-server': wellKnown(
    'oauth-authorization-server',
    'RFC 8414 metadata of the token endpoint',
    ref('Metadata'),
  ),
  '/api/openapi.json': wellKnown('openapi', 'This document', { type: 'object', required: ['openapi'] }),
};

/**
 * The document, for a gateway reached at `serverUrl` (its origin, without `/api`).
 *
 * @example
 * ```ts
 * const doc = openApiDocument('https://func-gateway.azurewebsites.net');
 * doc.paths['/api/token'].post.operationId; // 'token'
 * ```
 */
export function openApiDocument(serverUrl: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'entra-functions-gateway',
      version: '3',
      description:
        'Authorization gateway for Azure Functions: Entra ID tokens, Cosmos DB policies, SAS token exchange, proxy.',
    },
    servers: [{ url: serverUrl }],
    paths: PATHS,
    components: {
      schemas: SCHEMAS,
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An Entra ID access token',
        },
        sas: {
          type: 'apiKey',
          in: 'header',
          name: 'Authorization',
          description: '`SharedAccessSignature <token>`: a token from /api/token (docs/sas-token.md)',
        },
        dpop: {
          type: 'http',
          scheme: 'DPoP',
          description: '`DPoP <token>` with a `DPoP` proof header (RFC 9449)',
        },
      },
    },
  };
}

/** Every (OpenAPI path, method) the document describes, for the test that checks the route table. */
export function describedOperations(): { path: string; method: string }[] {
  const out: { path: string; method: string }[] = [];
  for (const [path, item] of Object.entries(PATHS)) {
    for (const method of Object.keys(item))
      if (method !== 'parameters') out.push({ path, method: method.toUpperCase() });
  }
  return out;
}
