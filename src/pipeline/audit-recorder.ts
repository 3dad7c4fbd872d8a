/**
 * What one request tells the audit trail, collected as the request walks the pipeline: who called
 * (the authenticate stage), what was asked (the route), what was decided and by which policies
 * (the authorize stage). {@link runOperation} completes it with the status, the error's code and
 * the latency, and writes one record.
 */
import type { Principal } from '../auth/principal';
import { auditInputsOf, type AuditInputs } from '../audit/audit-record';
import type { ClaimsSubject } from '../policy/subject';

/** The caller as the audit trail keeps it: identifiers, never a token. */
export type AuditedCaller = Pick<Principal, 'oid' | 'tid' | 'azp'> & { readonly kind?: Principal['kind'] };

/** A decision as the audit trail keeps it. */
export interface AuditedDecision {
  readonly decision: 'allow' | 'deny';
  readonly policies: readonly string[];
  readonly reasonCode: string;
}

/** The facts of one request; every member is filled by one stage. */
export class AuditRecorder {
  private callerFacts: AuditedCaller | undefined;
  private resourceText: string | null = null;
  private actionText: string | null = null;
  private pathText: string | null = null;
  private decided: AuditedDecision | undefined;
  private policyIds: readonly string[] = [];
  private reason: string | undefined;
  private decisionInputs: AuditInputs | null = null;
  private skipped = false;

  /** `keepInputs`: `AUDIT_DECISION_INPUTS` (docs/reference.md §2). */
  constructor(private readonly keepInputs = true) {}

  /** The authenticated caller (the authenticate stage sets it). */
  caller(principal: AuditedCaller): void {
    this.callerFacts = principal;
  }

  /** What the request is about. */
  target(resource: string, action: string | null, path: string | null): void {
    this.resourceText = resource;
    this.actionText = action;
    this.pathText = path;
  }

  /** The decision that let the request through or refused it. */
  decision(decision: AuditedDecision): void {
    this.decided = decision;
    this.policyIds = decision.policies;
    this.reason = decision.reasonCode;
  }

  /**
   * What the policies read of an Entra caller for the decision just made (kept so that `gateway
   * replay` can make it again): `claimsRead` the claims the policies in force read, `dpop` a DPoP
   * proof came with the request. A SAS caller's decision is its grant's, made at issuance: no
   * inputs.
   */
  decidedFor(
    subject: ClaimsSubject & { readonly kind?: Principal['kind'] },
    claimsRead: readonly string[],
    decision: { readonly decision: 'allow' | 'deny'; readonly reasonCode: string },
    dpop = false,
  ): void {
    if (subject.kind === 'sas' || !this.keepInputs) return;
    this.decisionInputs = auditInputsOf(subject, claimsRead, decision, dpop);
  }

  /** The policies and reason of a refusal that is not a decision (an invalid scope). */
  outcome(policies: readonly string[], reasonCode: string): void {
    this.policyIds = policies;
    this.reason = reasonCode;
  }

  /** This request is not worth a record (an admin read). */
  skip(): void {
    this.skipped = true;
  }

  get skippedRecord(): boolean {
    return this.skipped;
  }

  /** The collected facts, for the one record {@link runOperation} writes. */
  facts(): {
    readonly caller: AuditedCaller | undefined;
    readonly resource: string | null;
    readonly action: string | null;
    readonly path: string | null;
    readonly decision: 'allow' | 'deny' | undefined;
    readonly policies: readonly string[];
    readonly reasonCode: string | undefined;
    readonly inputs: AuditInputs | null;
  } {
    return {
      caller: this.callerFacts,
      resource: this.resourceText,
      action: this.actionText,
      path: this.pathText,
      decision: this.decided?.decision,
      policies: this.policyIds,
      reasonCode: this.reason,
      inputs: this.decisionInputs,
    };
  }
}
