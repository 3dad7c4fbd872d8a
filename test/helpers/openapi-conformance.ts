/**
 * Checks a real answer of the gateway against its OpenAPI document (`GET /api/openapi.json`):
 * the status is described (or a `default`), the content type is one the status lists, and a JSON
 * body fits the schema. Used by test/integration/openapi.test.ts and, through
 * test/setup/openapi-conformance.ts, on every answer an integration suite reads with `fetch`.
 */
import Ajv2020, { type ValidateFunction } from 'ajv/dist/2020';
import { openApiDocument } from '../../src/openapi/openapi-document';

interface Media {
  schema?: unknown;
}
interface ResponseObject {
  content?: Record<string, Media>;
}
type Operation = { responses: Record<string, ResponseObject> };

const document = openApiDocument('http://127.0.0.1') as {
  paths: Record<string, Record<string, Operation>>;
  components: unknown;
};
const ajv = new Ajv2020({ strict: false, allErrors: true });
ajv.addSchema({ $id: 'doc', components: document.components });
const compiled = new WeakMap<object, ValidateFunction>();

/** Each documented path as a pattern: a `{param}` is one segment, `{path}` (the proxy's) any rest. */
const templates = Object.entries(document.paths).map(([template, item]) => ({
  item,
  pattern: new RegExp(
    `^${template
      .replace(/\./g, '\\.')
      .replace('{path}', '.*')
      .replace(/\{\w+\}/g, '[^/]+')}$`,
  ),
}));

/** The document's operation for `method` on `path` (no query), if it has one. */
export function operationOf(method: string, path: string): Operation | undefined {
  for (const { item, pattern } of templates) {
    const operation = item[method.toLowerCase()];
    if (operation !== undefined && pattern.test(path)) return operation;
  }
  return undefined;
}

/** What an answer looked like, as far as the document describes it. */
export interface SeenAnswer {
  readonly method: string;
  /** The request path, without the query. */
  readonly path: string;
  readonly status: number;
  readonly contentType: string | null;
  /** The body text, read only when a schema applies to it. */
  readonly body: () => Promise<string>;
}

/** What does not fit the document in `answer` (empty: it fits). */
export async function conformanceProblems(answer: SeenAnswer): Promise<string[]> {
  const where = `${answer.method} ${answer.path} ${answer.status}`;
  const operation = operationOf(answer.method, answer.path);
  if (operation === undefined) return [`${answer.method} ${answer.path}: the document has no such operation`];
  const described = operation.responses[String(answer.status)] ?? operation.responses.default;
  if (described === undefined) return [`${where}: the status is not described`];
  if (described.content === undefined) return [];
  const type = (answer.contentType ?? '').split(';')[0]!.trim();
  const media = described.content[type];
  if (media === undefined) {
    // An empty body with no content type (a 204, a HEAD) is not a second content type.
    if (type === '' && (await answer.body()) === '') return [];
    return [`${where}: content type '${type}' is not described`];
  }
  if (media.schema === undefined) return [];
  let validate = compiled.get(media);
  if (validate === undefined) {
    const schema = JSON.parse(JSON.stringify(media.schema).replace(/"#\/components/g, '"doc#/components'));
    validate = ajv.compile(schema as object);
    compiled.set(media, validate);
  }
  let body: unknown;
  try {
    body = JSON.parse(await answer.body());
  } catch {
    return [`${where}: the body is not JSON`];
  }
  return validate(body) ? [] : [`${where}: ${ajv.errorsText(validate.errors)}`];
}
