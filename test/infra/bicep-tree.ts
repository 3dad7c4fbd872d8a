/**
 * A small reader over tree-sitter-bicep parse trees, for the offline infrastructure tests. It
 * parses with the grammar's `.wasm` through `web-tree-sitter` (no native build, no network, no
 * Bicep CLI) and exposes only what the tests assert on: resource declarations with their type
 * strings, module calls, parameters, outputs and the properties inside object literals.
 */
import { readFileSync } from 'node:fs';
import { Language, Parser, type Node, type Tree } from 'web-tree-sitter';

/** One parsed `.bicep` file. */
export interface BicepFile {
  readonly path: string;
  readonly source: string;
  readonly tree: Tree;
}

/** A `resource` declaration, nested ones included (their type is completed from the parent's). */
export interface BicepResource {
  readonly file: string;
  readonly symbol: string;
  /** Full resource type without the API version, e.g. `Microsoft.Web/sites/config`. */
  readonly type: string;
  /** API version; a nested declaration inherits its parent's. */
  readonly apiVersion: string;
  readonly existing: boolean;
  /** Declared with `if (...)`. */
  readonly conditional: boolean;
  /** Declared with `[for ...]`. */
  readonly loop: boolean;
  /** The declaration's object body. */
  readonly body: Node;
}

export interface BicepParam {
  readonly name: string;
  readonly type: string;
  /** The default value expression, when there is one. */
  readonly defaultValue: Node | undefined;
}

export interface BicepOutput {
  readonly name: string;
  readonly type: string;
  readonly value: Node;
}

export interface BicepModule {
  readonly symbol: string;
  /** The module path as written, e.g. `modules/rbac.bicep`. */
  readonly path: string;
  readonly body: Node;
}

let parser: Parser | undefined;

/** Loads the Bicep grammar once per process (the wasm runtime and grammar take ~100 ms). */
export async function createBicepParser(): Promise<Parser> {
  if (parser) return parser;
  await Parser.init();
  // Bytes, not a path: given a path, web-tree-sitter reads it with a dynamic import(), which
  // jest's CommonJS runtime refuses without --experimental-vm-modules.
  const wasm = readFileSync(require.resolve('tree-sitter-bicep/tree-sitter-bicep.wasm'));
  const language = await Language.load(new Uint8Array(wasm));
  parser = new Parser();
  parser.setLanguage(language);
  return parser;
}

export function parseBicepFile(bicep: Parser, path: string): BicepFile {
  const source = readFileSync(path, 'utf8');
  const tree = bicep.parse(source);
  if (!tree) throw new Error(`${path}: the parser returned no tree`);
  return { path, source, tree };
}

const named = (node: Node): Node[] => node.namedChildren.filter((c): c is Node => c !== null);

/** Every ERROR or MISSING node, as `line:column type` strings (empty when the file parses cleanly). */
export function syntaxProblems(file: BicepFile): string[] {
  const problems: string[] = [];
  const walk = (node: Node): void => {
    if (node.isError || node.isMissing) {
      problems.push(`${node.startPosition.row + 1}:${node.startPosition.column + 1} ${node.type}`);
    }
    if (node.hasError || node.isMissing) for (const child of named(node)) walk(child);
  };
  walk(file.tree.rootNode);
  // A MISSING token can be anonymous; hasError on the root catches what the walk cannot name.
  if (problems.length === 0 && file.tree.rootNode.hasError) problems.push('1:1 ERROR');
  return problems;
}

/** The text of a string literal without quotes; undefined for anything else (e.g. interpolation). */
export function stringValue(node: Node | undefined): string | undefined {
  if (!node || node.type !== 'string') return undefined;
  const parts = named(node);
  if (parts.some((p) => p.type !== 'string_content' && p.type !== 'escape_sequence')) return undefined;
  return parts.map((p) => p.text).join('');
}

/** The key of an `object_property` (identifier or quoted string). */
function propertyKey(property: Node): string | undefined {
  const key = named(property)[0];
  if (!key) return undefined;
  if (key.type === 'identifier') return key.text;
  return stringValue(key);
}

/** The body object of a declaration, seen through `if (...)` and `[for ...]`. */
function declarationBody(node: Node): { body: Node; conditional: boolean; loop: boolean } | undefined {
  for (const child of named(node)) {
    if (child.type === 'object') return { body: child, conditional: false, loop: false };
    if (child.type === 'if_statement') {
      const body = named(child).find((c) => c.type === 'object');
      if (body) return { body, conditional: true, loop: false };
    }
    if (child.type === 'for_statement') {
      const body = child.childForFieldName('body') ?? named(child).find((c) => c.type === 'object');
      if (body?.type === 'object') return { body, conditional: false, loop: true };
      // `[for x in xs: if (c) {...}]`
      const inner = body?.type === 'if_statement' ? named(body).find((c) => c.type === 'object') : undefined;
      if (inner) return { body: inner, conditional: true, loop: true };
    }
  }
  return undefined;
}

/** The properties of an object literal, by key (nested resource declarations are skipped). */
export function objectProperties(object: Node | undefined): Map<string, Node> {
  const properties = new Map<string, Node>();
  if (!object || object.type !== 'object') return properties;
  for (const property of named(object)) {
    if (property.type !== 'object_property') continue;
    const key = propertyKey(property);
    const parts = named(property);
    const value = parts[parts.length - 1];
    if (key !== undefined && value && parts.length >= 2) properties.set(key, value);
  }
  return properties;
}

/** The value at a dotted path of object keys, e.g. `properties.siteConfig.minTlsVersion`. */
export function propertyAt(object: Node | undefined, path: string): Node | undefined {
  let current = object;
  for (const key of path.split('.')) {
    current = objectProperties(current).get(key);
    if (!current) return undefined;
  }
  return current;
}

function collectResources(file: string, container: Node, parent: BicepResource | undefined): BicepResource[] {
  const found: BicepResource[] = [];
  const declarations =
    container.type === 'object'
      ? named(container)
          .filter((p) => p.type === 'object_property')
          .flatMap((p) => named(p).filter((c) => c.type === 'resource_declaration'))
      : named(container).filter((c) => c.type === 'resource_declaration');
  for (const declaration of declarations) {
    const parts = named(declaration);
    const symbol = parts[0]?.text ?? '';
    const typeString = stringValue(parts[1]) ?? '';
    const [typePart = '', versionPart] = typeString.split('@');
    const type = parent ? `${parent.type}/${typePart}` : typePart;
    const apiVersion = versionPart ?? parent?.apiVersion ?? '';
    const shape = declarationBody(declaration);
    if (!shape) continue;
    const resource: BicepResource = {
      file,
      symbol,
      type,
      apiVersion,
      existing: declaration.children.some((c) => c?.type === 'existing'),
      ...shape,
    };
    found.push(resource, ...collectResources(file, shape.body, resource));
  }
  return found;
}

/** Every resource declaration in the file, nested child resources included. */
export function resources(file: BicepFile): BicepResource[] {
  return collectResources(file.path, file.tree.rootNode, undefined);
}

export function params(file: BicepFile): BicepParam[] {
  return named(file.tree.rootNode)
    .filter((n) => n.type === 'parameter_declaration')
    .map((n) => {
      const [name, type, defaultValue] = named(n);
      return { name: name?.text ?? '', type: type?.text ?? '', defaultValue };
    });
}

export function outputs(file: BicepFile): BicepOutput[] {
  return named(file.tree.rootNode)
    .filter((n) => n.type === 'output_declaration')
    .flatMap((n) => {
      const [name, type, value] = named(n);
      return name && type && value ? [{ name: name.text, type: type.text, value }] : [];
    });
}

export function modules(file: BicepFile): BicepModule[] {
  return named(file.tree.rootNode)
    .filter((n) => n.type === 'module_declaration')
    .flatMap((n) => {
      const parts = named(n);
      const shape = declarationBody(n);
      const path = stringValue(parts[1]);
      return shape && path ? [{ symbol: parts[0]?.text ?? '', path, body: shape.body }] : [];
    });
}

/** Every call of a function by name anywhere in the file (e.g. `listKeys`), as nodes. */
export function calls(file: BicepFile, functionName: string): Node[] {
  return file.tree.rootNode
    .descendantsOfType('call_expression')
    .filter((n): n is Node => n !== null)
    .filter((n) => {
      const fn = n.childForFieldName('function');
      // `storage.listKeys()` parses as a member call: match the last segment too.
      return fn?.text === functionName || fn?.text.endsWith(`.${functionName}`);
    });
}

export interface BicepVariable {
  readonly name: string;
  readonly value: Node;
  /** The `// ...` comment at the end of the declaration's line, without the slashes. */
  readonly trailingComment: string | undefined;
}

/** Top-level `var` declarations, with the comment that ends their line (how roles are named). */
export function variables(file: BicepFile): BicepVariable[] {
  const lines = file.source.split('\n');
  return named(file.tree.rootNode)
    .filter((n) => n.type === 'variable_declaration')
    .flatMap((n) => {
      const [name, value] = named(n);
      if (!name || !value) return [];
      const line = lines[n.endPosition.row] ?? '';
      const comment = /\/\/\s*(.+?)\s*$/.exec(line.slice(n.endPosition.column));
      return [{ name: name.text, value, trailingComment: comment?.[1] }];
    });
}

/** The string items of an array literal (non-literal items are skipped). */
export function stringItems(array: Node | undefined): string[] {
  if (!array || array.type !== 'array') return [];
  return named(array).flatMap((item) => {
    const value = stringValue(item);
    return value === undefined ? [] : [value];
  });
}

/** The arguments of a call expression, e.g. the parts of `guid(a, b, c)` or `union(x, {...})`. */
export function callArguments(call: Node | undefined): Node[] {
  if (!call || call.type !== 'call_expression') return [];
  const args = named(call).find((c) => c.type === 'arguments');
  return args ? named(args) : [];
}
