/** The service's Prometheus metrics (prom-client), in a registry of its own per server. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export interface ServeMetrics {
  registry: Registry;
  requests: Counter<'route' | 'status'>;
  latency: Histogram<'route'>;
  batchSize: Histogram<'detector'>;
  batchSeconds: Histogram<'detector'>;
  queueDepth: Gauge<'detector'>;
  clips: Counter<'detector'>;
  decisions: Counter<'detector' | 'decision'>;
}

export function createMetrics(depth: (detector: string) => number, detectors: string[]): ServeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'asdkit_' });
  const m: ServeMetrics = {
    registry,
    requests: new Counter({ name: 'asdkit_http_requests_total', help: 'HTTP requests by route and status code', labelNames: ['route', 'status'], registers: [registry] }),
    latency: new Histogram({
      name: 'asdkit_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['route'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    batchSize: new Histogram({ name: 'asdkit_batch_size', help: 'Clips per native batch', labelNames: ['detector'], buckets: [1, 2, 4, 8, 16, 32, 64, 128], registers: [registry] }),
    batchSeconds: new Histogram({ name: 'asdkit_batch_duration_seconds', help: 'Time to decode and score one batch', labelNames: ['detector'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [registry] }),
    queueDepth: new Gauge({
      name: 'asdkit_queue_depth',
      help: 'Clips waiting for a batch',
      labelNames: ['detector'],
      registers: [registry],
      collect() {
        for (const d of detectors) this.set({ detector: d }, depth(d));
      },
    }),
    clips: new Counter({ name: 'asdkit_clips_scored_total', help: 'Clips scored', labelNames: ['detector'], registers: [registry] }),
    decisions: new Counter({ name: 'asdkit_decisions_total', help: 'Decisions by value (1 = anomalous)', labelNames: ['detector', 'decision'], registers: [registry] }),
  };
  return m;
}
