import { parsePolicy, parseResource } from '../policy/model';
import type { DocumentKindName } from './admin-client';
import type { KindRules } from './apply';

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
    idField: 'id',
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
    idField: 'name',
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
