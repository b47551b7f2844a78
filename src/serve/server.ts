/**
 * The scoring service (fastify): detectors under their names, clips scored in dynamic batches,
 * bounded queues (503 + Retry-After beyond them), bodies over the limit 413, undecodable audio
 * 400, optional bearer token, Prometheus metrics, graceful close (every accepted clip is
 * answered). `createServer` returns the fastify instance, so a Node tool can mount it or
 * `inject()` requests in its tests; `asdkit serve` listens with it.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import type { Detector } from '../detector/detector.js';
import { native } from '../native/index.js';
import { Batcher, ClosedError, QueueFullError } from './batcher.js';
import { createMetrics } from './metrics.js';

export interface ServeOptions {
  /** Detectors by the name in their route (`/v1/detectors/<name>/score`). */
  detectors: Record<string, Detector> | ReadonlyMap<string, Detector>;
  /** Clips per native batch (default 16). */
  maxBatch?: number;
  /** How long the first waiting clip waits for others (default 20 ms). */
  maxWaitMs?: number;
  /** Largest request body in MiB (default 32). */
  maxBodyMb?: number;
  /** Clips that may wait per detector; beyond, 503 (default 256). */
  maxQueue?: number;
  /** When set, every route but /healthz needs `Authorization: Bearer <token>`. */
  token?: string;
  /** fastify's logger (pino options, or false); default false. */
  logger?: FastifyServerOptions['logger'];
}

/** One clip's answer. */
export interface ClipAnswer {
  file: string;
  section?: number;
  score?: number;
  decision?: 0 | 1;
  threshold?: number;
  latency_ms: number;
  error?: string;
}

interface Clip {
  name: string;
  data: Uint8Array;
  section?: number;
}

type Outcome = { section: number; score: number; decision: 0 | 1; threshold: number } | { error: string };

const digest = (s: string) => createHash('sha256').update(s).digest();

export function createServer(o: ServeOptions): FastifyInstance {
  const detectors = new Map(o.detectors instanceof Map ? o.detectors : Object.entries(o.detectors));
  if (detectors.size === 0) throw new Error('createServer: no detectors');
  const maxBatch = o.maxBatch ?? 16;
  const maxBody = Math.round((o.maxBodyMb ?? 32) * 2 ** 20);
  const app = Fastify({ logger: o.logger ?? false, bodyLimit: maxBody, return503OnClosing: true });

  const batchers = new Map<string, Batcher<Clip, Outcome>>();
  const metrics = createMetrics((d) => batchers.get(d)?.depth ?? 0, [...detectors.keys()]);
  for (const [name, detector] of detectors) {
    batchers.set(
      name,
      new Batcher<Clip, Outcome>({
        maxBatch,
        maxWaitMs: o.maxWaitMs ?? 20,
        maxQueue: o.maxQueue ?? 256,
        run: async (clips) => {
          const r = await detector.scoreBuffers(clips.map((c) => c.data), { names: clips.map((c) => c.name), sections: clips.map((c) => c.section), batchSize: clips.length });
          return clips.map((_, i): Outcome => {
            if (r.errors[i] !== undefined) return { error: r.errors[i]! };
            const decision = r.decision[i] as 0 | 1;
            metrics.clips.inc({ detector: name });
            metrics.decisions.inc({ detector: name, decision: String(decision) });
            return { section: r.section[i], score: r.score[i], decision, threshold: r.threshold[i] };
          });
        },
        onBatch: (size, ms) => {
          metrics.batchSize.observe({ detector: name }, size);
          metrics.batchSeconds.observe({ detector: name }, ms / 1000);
        },
      }),
    );
  }

  app.register(multipart, { limits: { fileSize: maxBody, files: 256, parts: 512, fields: 16 }, throwFileSizeLimit: true });
  // Audio bodies arrive as bytes (a WAV, FLAC, OGG… file), whatever audio/* type the client says.
  const bytes = (_req: unknown, body: string | Buffer, done: (e: null, b: unknown) => void) => done(null, body);
  app.addContentTypeParser(/^audio\//, { parseAs: 'buffer', bodyLimit: maxBody }, bytes);
  app.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: maxBody }, bytes);

  if (o.token !== undefined) {
    const want = digest(o.token);
    app.addHook('onRequest', async (req, reply) => {
      if (req.url === '/healthz') return;
      const h = req.headers.authorization ?? '';
      const given = h.startsWith('Bearer ') ? h.slice(7) : '';
      // Equal-length digests: the comparison takes the same time whatever the guess.
      if (!timingSafeEqual(digest(given), want)) {
        reply.header('WWW-Authenticate', 'Bearer').code(401);
        return reply.send({ error: 'missing or wrong bearer token' });
      }
    });
  }

  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ route, status: String(reply.statusCode) });
    metrics.latency.observe({ route }, reply.elapsedTime / 1000);
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) app.log.error(err);
    return reply.code(status).send({ error: err.message, ...(err.code ? { code: err.code } : {}) });
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const problems: string[] = [];
    for (const [name, d] of detectors) {
      if (d.disposed) problems.push(`${name}: disposed`);
      try {
        native().checkDevice(d.device);
      } catch (e) {
        problems.push(`${name}: device ${d.device}: ${(e as Error).message}`);
      }
    }
    return problems.length ? reply.code(503).send({ ready: false, problems }) : { ready: true, detectors: detectors.size };
  });

  app.get('/metrics', async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));

  app.get('/v1/detectors', async () => ({
    detectors: [...detectors].map(([name, d]) => {
      const m = d.manifest;
      return {
        name, recipe: m.recipe, dcase: m.dcase, machine: m.machine, column: m.score.column,
        sections: m.sections.map((s: { section: number; threshold: number }) => ({ section: s.section, threshold: s.threshold })),
        threshold_method: m.threshold.method, threshold_quantile: m.threshold.quantile,
        // channel subtract/both: uploads must have two channels (near, far); a mono one is an error.
        sample_rate: m.audio.sample_rate, clip_samples: m.audio.length, channel: m.audio.channel,
        format_version: m.format_version, toolkit_version: m.toolkit_version,
      };
    }),
  }));

  app.post<{ Params: { name: string }; Querystring: { section?: string; file?: string } }>('/v1/detectors/:name/score', async (req, reply) => {
    const started = performance.now();
    const batcher = batchers.get(req.params.name);
    if (!batcher) return reply.code(404).send({ error: `no detector "${req.params.name}" (have: ${[...detectors.keys()].join(', ')})` });
    const section = parseSection(req.query.section);
    if (section === null) return reply.code(400).send({ error: `section must be a non-negative integer, got "${req.query.section}"` });
    const multi = req.isMultipart();
    const clips = multi ? await multipartClips(req) : [{ name: req.query.file ?? 'body', data: bodyBytes(req.body) }];
    if (clips.length === 0) return reply.code(400).send({ error: 'no audio: send a file as the body (audio/wav, …) or as multipart/form-data parts' });
    for (const c of clips) c.section = section;
    if (!batcher.hasRoom(clips.length)) {
      reply.header('Retry-After', '1');
      return reply.code(503).send({ error: new QueueFullError(o.maxQueue ?? 256).message });
    }
    // A client that goes away takes its waiting clips out of the queue.
    const gone = new AbortController();
    reply.raw.on('close', () => {
      if (!reply.raw.writableEnded) gone.abort(new Error('client disconnected'));
    });
    let outcomes: Outcome[];
    try {
      outcomes = await Promise.all(clips.map((c) => batcher.submit(c, gone.signal)));
    } catch (e) {
      if (e instanceof QueueFullError || e instanceof ClosedError) {
        reply.header('Retry-After', '1');
        return reply.code(503).send({ error: e.message });
      }
      throw e;
    }
    const latency = performance.now() - started;
    const answers: ClipAnswer[] = outcomes.map((r, i) => ({ file: clips[i].name, ...r, latency_ms: latency }));
    if (!multi) return 'error' in outcomes[0] ? reply.code(400).send(answers[0]) : answers[0];
    return answers.every((a) => a.error !== undefined) ? reply.code(400).send({ results: answers }) : { results: answers };
  });

  // Graceful close: fastify stops accepting and waits for the requests in flight; their answers
  // close their connections (an idle keep-alive one would hold the close for its 72 s timeout);
  // the batchers then score anything still queued.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onClose', async () => {
    await Promise.all([...batchers.values()].map((b) => b.drain()));
  });
  return app;
}

function parseSection(s: string | undefined): number | undefined | null {
  if (s === undefined || s === '') return undefined;
  return /^\d+$/.test(s) ? Number(s) : null;
}

function bodyBytes(body: unknown): Uint8Array {
  if (body instanceof Uint8Array) return body;
  const e = new Error('send audio bytes with Content-Type audio/wav (or another audio/* type, application/octet-stream or multipart/form-data)') as Error & { statusCode: number };
  e.statusCode = 415;
  throw e;
}

async function multipartClips(req: FastifyRequest): Promise<Clip[]> {
  const clips: Clip[] = [];
  for await (const part of req.files()) {
    const data = await part.toBuffer();
    clips.push({ name: part.filename || part.fieldname, data });
  }
  return clips;
}

