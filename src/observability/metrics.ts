import { metrics as otel, type Attributes } from '@opentelemetry/api';
import type { Environment } from '../config/load-config';
import { describeError, type Logger } from '../logger';

/** Values the gateway reports on demand (observable gauges). */
export interface GaugeSources {
  /** Seconds since the policy index was last confirmed current; undefined before the first load. */
  policyIndexAgeSeconds(): number | undefined;
  auditQueueDepth(): number;
  auditDropped(): number;
}

/**
 * The gateway's metrics, behind a narrow interface: decisions by outcome, JWKS refreshes,
 * upstream latency, and gauges for policy index age and audit queue depth.
 */
export interface Metrics {
  decision(operation: string, outcome: 'allow' | 'deny' | 'error', status: number): void;
  jwksRefresh(outcome: 'ok' | 'failed'): void;
  upstreamLatency(resource: string, status: number, ms: number): void;
  observe(sources: GaugeSources): void;
  /** A call refused by its quota (429 `ERR_QUOTA_EXCEEDED`). */
  quotaExceeded(resource: string): void;
  /** The quota store did not answer in time; `decided` is what the resource's rule made of the call. */
  quotaStoreFailure(resource: string, decided: 'allow' | 'deny'): void;
}

/**
 * Metrics through the OpenTelemetry API. Without a registered SDK the API is a no-op (a few
 * nanoseconds a call), so this is safe to use unconditionally; {@link startTelemetry} registers
 * Azure Monitor when a connection string is set.
 */
export class OpenTelemetryMetrics implements Metrics {
  private readonly meter = otel.getMeter('entra-functions-gateway');
  private readonly decisions = this.meter.createCounter('gateway.decisions', {
    description: 'Authorization decisions by operation and outcome',
  });
  private readonly jwks = this.meter.createCounter('gateway.jwks.refreshes', { description: 'JWKS fetches' });
  private readonly quotaRefusals = this.meter.createCounter('gateway.quota.exceeded', {
    description: 'Calls refused by a quota',
  });
  private readonly quotaFailures = this.meter.createCounter('gateway.quota.store_failures', {
    description: 'Calls decided without the quota store (it did not answer in time)',
  });
  private readonly upstream = this.meter.createHistogram('gateway.upstream.duration', {
    description: 'Downstream call duration',
    unit: 'ms',
  });

  decision(operation: string, outcome: 'allow' | 'deny' | 'error', status: number): void {
    this.decisions.add(1, { operation, outcome, status } satisfies Attributes);
  }

  jwksRefresh(outcome: 'ok' | 'failed'): void {
    this.jwks.add(1, { outcome });
  }

  upstreamLatency(resource: string, status: number, ms: number): void {
    this.upstream.record(ms, { resource, status });
  }

  quotaExceeded(resource: string): void {
    this.quotaRefusals.add(1, { resource });
  }

  quotaStoreFailure(resource: string, decided: 'allow' | 'deny'): void {
    this.quotaFailures.add(1, { resource, decided });
  }

  observe(sources: GaugeSources): void {
    this.meter
      .createObservableGauge('gateway.policy.index_age', {
        unit: 's',
        description: 'Age of the policy index',
      })
      .addCallback((result) => {
        const age = sources.policyIndexAgeSeconds();
        if (age !== undefined) result.observe(age);
      });
    this.meter
      .createObservableGauge('gateway.audit.queue_depth', {
        description: 'Audit records waiting to be written',
      })
      .addCallback((result) => result.observe(sources.auditQueueDepth()));
    this.meter
      .createObservableCounter('gateway.audit.dropped', { description: 'Audit records dropped (queue full)' })
      .addCallback((result) => result.observe(sources.auditDropped()));
  }
}

/** Counts in memory: for tests. */
export class MemoryMetrics implements Metrics {
  readonly counts = new Map<string, number>();
  readonly latencies: { resource: string; status: number; ms: number }[] = [];
  sources: GaugeSources | undefined;

  private bump(key: string): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  decision(operation: string, outcome: 'allow' | 'deny' | 'error', status: number): void {
    this.bump(`decision:${operation}:${outcome}:${status}`);
  }
  jwksRefresh(outcome: 'ok' | 'failed'): void {
    this.bump(`jwks:${outcome}`);
  }
  upstreamLatency(resource: string, status: number, ms: number): void {
    this.latencies.push({ resource, status, ms });
  }
  quotaExceeded(resource: string): void {
    this.bump(`quota:exceeded:${resource}`);
  }
  quotaStoreFailure(resource: string, decided: 'allow' | 'deny'): void {
    this.bump(`quota:store_failure:${resource}:${decided}`);
  }
  observe(sources: GaugeSources): void {
    this.sources = sources;
  }
}

let started: Promise<void> | undefined;

/** The client id in `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` (`ClientId=<guid>;Authorization=AAD`), if any. */
export function authenticationClientId(value: string | undefined): string | undefined {
  if (!value || !/(^|;)\s*Authorization=AAD\s*(;|$)/i.test(value)) return undefined;
  return /(?:^|;)\s*ClientId=([0-9a-f-]{36})\s*(?:;|$)/i.exec(value)?.[1];
}

/**
 * Registers Azure Monitor (Application Insights) as the OpenTelemetry exporter when
 * `APPLICATIONINSIGHTS_CONNECTION_STRING` is set; nothing otherwise. When
 * `APPLICATIONINSIGHTS_AUTHENTICATION_STRING` asks for Entra authentication (the Bicep turns
 * key-based ingestion off), telemetry is sent with the managed identity it names.
 *
 * Loaded lazily: the exporter and `@azure/identity` are large modules that most local runs never
 * need, and they must not slow a cold start without a connection string. Once per process;
 * failures are logged, never fatal.
 */
export function startTelemetry(env: Environment, logger: Logger): Promise<void> {
  const connectionString = env.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (!connectionString) return Promise.resolve();
  const clientId = authenticationClientId(env.APPLICATIONINSIGHTS_AUTHENTICATION_STRING);
  started ??= (async () => {
    try {
      const { useAzureMonitor } = await import('@azure/monitor-opentelemetry');
      const credential =
        clientId === undefined
          ? undefined
          : new (await import('@azure/identity')).ManagedIdentityCredential({ clientId });
      useAzureMonitor({
        azureMonitorExporterOptions: { connectionString, ...(credential ? { credential } : {}) },
      });
      logger.log('info', 'telemetry.started', {
        exporter: 'azure-monitor',
        entraAuth: credential !== undefined,
      });
    } catch (err) {
      logger.log('error', 'telemetry.failed', { error: describeError(err) });
    }
  })();
  return started;
}
