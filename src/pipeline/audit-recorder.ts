/**
 * What one request tells the audit trail, collected as the request walks the pipeline: who called
 * (the authenticate stage), what was asked (the route), what was decided and by which policies
 * (the authorize stage). {@link runOperation} completes it with the status, the error's code and
 * the latency, and writes one record.
 */
import type { Principal } from '../auth/principal';

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
  private skipped = false;

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
  } {
    return {
      caller: this.callerFacts,
      resource: this.resourceText,
      action: this.actionText,
      path: this.pathText,
      decision: this.decided?.decision,
      policies: this.policyIds,
      reasonCode: this.reason,
    };
  }
}
