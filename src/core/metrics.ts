/**
 * Prometheus metrics (prom-client). Each process builds one registry in its
 * composition root; names match docs/runbook.md and the alert rules.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { TranscriptionQueues } from './transcription-queues.js';

export interface ServiceMetrics {
  registry: Registry;
  jobDuration: Histogram<'queue' | 'outcome'>;
  realtimeFactor: Histogram<'queue'>;
  chunks: Counter<'queue'>;
  audioSeconds: Counter<'queue'>;
  retries: Counter<'queue'>;
  stalls: Counter<'queue'>;
  failures: Counter<'queue' | 'code'>;
  handBacks: Counter<'queue'>;
  sessionsReleased: Counter;
  workerUp: Gauge;
  workerBusy: Gauge;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  retentionRemoved: Counter<'kind'>;
  webhookAttempts: Counter<'outcome'>;
}

export function createMetrics(options: { process: 'api' | 'worker' | 'all' }): ServiceMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ process: options.process });
  collectDefaultMetrics({ register: registry, prefix: 'meno_process_' });

  const loop = monitorEventLoopDelay({ resolution: 20 });
  loop.enable();
  new Gauge({
    name: 'meno_event_loop_lag_seconds',
    help: 'Maximum event-loop delay since the last scrape (seconds).',
    registers: [registry],
    collect() {
      this.set(loop.max / 1e9);
      loop.reset();
    },
  });

  return {
    registry,
    jobDuration: new Histogram({
      name: 'meno_job_duration_seconds',
      help: 'Wall time of one job attempt (seconds).',
      labelNames: ['queue', 'outcome'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200],
      registers: [registry],
    }),
    realtimeFactor: new Histogram({
      name: 'meno_realtime_factor',
      help: 'Audio seconds transcribed per wall second, per job attempt.',
      labelNames: ['queue'],
      buckets: [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500],
      registers: [registry],
    }),
    chunks: new Counter({ name: 'meno_chunks_total', help: 'Chunks transcribed and saved.', labelNames: ['queue'], registers: [registry] }),
    audioSeconds: new Counter({ name: 'meno_audio_seconds_total', help: 'Audio seconds transcribed and saved.', labelNames: ['queue'], registers: [registry] }),
    retries: new Counter({ name: 'meno_job_retries_total', help: 'Job attempts that failed and will be retried.', labelNames: ['queue'], registers: [registry] }),
    stalls: new Counter({ name: 'meno_job_stalls_total', help: 'Jobs this worker found stalled and moved back to wait.', labelNames: ['queue'], registers: [registry] }),
    failures: new Counter({ name: 'meno_job_failures_total', help: 'Jobs failed for good, by error code.', labelNames: ['queue', 'code'], registers: [registry] }),
    handBacks: new Counter({ name: 'meno_job_handbacks_total', help: 'Jobs handed back to the queue on graceful shutdown.', labelNames: ['queue'], registers: [registry] }),
    sessionsReleased: new Counter({ name: 'meno_onnx_sessions_released_total', help: 'Times the ONNX sessions were released.', registers: [registry] }),
    workerUp: new Gauge({ name: 'meno_worker_up', help: '1 while the worker consumes its queues.', registers: [registry] }),
    workerBusy: new Gauge({ name: 'meno_worker_busy', help: 'Jobs this worker is processing now.', registers: [registry] }),
    httpRequests: new Counter({ name: 'meno_http_requests_total', help: 'HTTP requests by route and status.', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    webhookAttempts: new Counter({
      name: 'meno_webhook_attempts_total',
      help: 'Webhook delivery attempts: outcome="delivered" (2xx), "retry" (failed, will retry), "failed" (failed for good).',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    retentionRemoved: new Counter({
      name: 'meno_retention_removed_total',
      help: 'What retention removed: kind="audio" (uploads of finished meetings), kind="meeting" (whole meetings).',
      labelNames: ['kind'],
      registers: [registry],
    }),
  };
}

/** Adds `meno_queue_jobs{queue,state}`, read from Redis at scrape time (left empty while Redis is down). */
export function registerQueueGauge(metrics: ServiceMetrics, queues: TranscriptionQueues): void {
  new Gauge({
    name: 'meno_queue_jobs',
    help: 'Jobs per queue and state.',
    labelNames: ['queue', 'state'],
    registers: [metrics.registry],
    async collect() {
      this.reset();
      try {
        const m = await queues.getQueueMetrics();
        for (const q of Object.values(m.queues)) {
          for (const state of ['waiting', 'active', 'completed', 'failed', 'delayed'] as const) this.set({ queue: q.name, state }, q[state]);
        }
      } catch {
        // Redis away: /readyz reports it; the gauge stays empty rather than stale.
      }
    },
  });
}
