/**
 * The admin document kinds, declared once: their collection names (the admin API's
 * `/api/policies` and `/api/resources`, the CLI's nouns), id fields, the order a desired state is
 * applied in, and the canonical forms used to compare a file with what is stored.
 */
import { parsePolicy, parseResource } from '../policy/model';

/** Each kind: the field that names a document, and the noun for one. */
export const DOCUMENT_KINDS = {
  resources: { idField: 'name', singular: 'resource' },
  policies: { idField: 'id', singular: 'policy' },
} as const;

export type DocumentKindName = keyof typeof DOCUMENT_KINDS;

/** How documents of a kind are identified and put in canonical form (defaults applied) for comparison. */
export interface KindRules {
  readonly idField: string;
  readonly canonical: (doc: Record<string, unknown>) => Record<string, unknown>;
  /** The gateway's own validation of one document's shape: undefined, or the field at fault and why. */
  readonly invalid: (doc: Record<string, unknown>) => { field: string; error: string } | undefined;
}

/** Resources first: a policy names a resource that must exist when it is applied. */
export const DOCUMENT_KIND_ORDER: readonly DocumentKindName[] = ['resources', 'policies'];

function upstreamHost(doc: Record<string, unknown>): string[] {
  try {
    return [new URL(String(doc.upstream)).hostname];
  } catch {
    return [];
  }
}

function keySettingOf(doc: Record<string, unknown>): string[] {
  const auth = doc.auth as { keySetting?: unknown } | undefined;
  return typeof auth?.keySetting === 'string' ? [auth.keySetting] : [];
}

/**
 * Canonical forms for comparing a file's documents with stored ones: the same schemas the
 * gateway validates with, so omitted defaults (`enabled`, `paths`, `timeoutMs`) compare equal.
 * The upstream host and key setting allow lists are the gateway's to enforce; here the
 * document's own are allowed so that only its shape is canonicalised. An invalid document is compared as written
 * and the gateway's 400 names the field when it is applied.
 */
export const KIND_RULES: Record<DocumentKindName, KindRules> = {
  policies: {
    idField: DOCUMENT_KINDS.policies.idField,
    canonical: (doc) => {
      const parsed = parsePolicy(doc);
      return parsed.ok ? parsed.value : doc;
    },
    invalid: (doc) => {
      const parsed = parsePolicy(doc);
      return parsed.ok ? undefined : { field: parsed.field, error: parsed.error };
    },
  },
  resources: {
    idField: DOCUMENT_KINDS.resources.idField,
    canonical: (doc) => {
      const parsed = parseResource(doc, { allowedHosts: upstreamHost(doc), keySettings: keySettingOf(doc) });
      return parsed.ok ? parsed.value : doc;
    },
    // The shape only: the upstream host and key setting allow lists are the deployment's.
    invalid: (doc) => {
      const parsed = parseResource(doc, { allowedHosts: upstreamHost(doc), keySettings: keySettingOf(doc) });
      return parsed.ok ? undefined : { field: parsed.field, error: parsed.error };
    },
  },
};
