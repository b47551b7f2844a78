/**
 * `asdkit serve DETECTOR…`: the scoring service on a port. Detectors are named by their machine
 * (or `NAME=DIR`); a detector that fails to load stops the start with the reason. SIGTERM or
 * Ctrl-C: stop accepting, answer everything accepted, exit 0.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { Detector } from '../../detector/detector.js';
import { setThreads } from '../../native/index.js';
import { createServer } from '../../serve/server.js';
import { parseThreads } from '../../util/threads.js';

interface ServeArgs {
  detectors: string[];
  host: string;
  port: number;
  device?: string;
  threads?: string;
  maxBatch: number;
  maxWaitMs: number;
  maxBodyMb: number;
  maxQueue: number;
  tokenFile?: string;
  logLevel: string;
  encoder?: string;
}

export const serveCommand: CommandModule<object, ServeArgs> = {
  command: 'serve <detectors..>',
  describe: 'serve detectors over HTTP: POST /v1/detectors/<name>/score, /metrics, /healthz, /readyz',
  builder: (y) =>
    y
      .positional('detectors', { type: 'string', array: true, demandOption: true, describe: 'detector folders (`asdkit export`), each as DIR (named by its machine) or NAME=DIR' })
      .option('host', { type: 'string', default: '127.0.0.1', describe: 'address to bind (0.0.0.0: every interface, an explicit choice)' })
      .option('port', { type: 'number', default: 8080, describe: 'TCP port (0: any free one)' })
      .option('device', { type: 'string', describe: 'cpu, cuda or cuda:N (default: cpu)' })
      .option('threads', { type: 'string', describe: 'LibTorch threads (0 = all cores, the default; env ASDKIT_THREADS)' })
      .option('max-batch', { type: 'number', default: 16, describe: 'clips per native batch' })
      .option('max-wait-ms', { type: 'number', default: 20, describe: 'how long a clip waits for others to batch with' })
      .option('max-body-mb', { type: 'number', default: 32, describe: 'largest request body (413 beyond)' })
      .option('max-queue', { type: 'number', default: 256, describe: 'clips waiting per detector (503 + Retry-After beyond)' })
      .option('token-file', { type: 'string', describe: 'a file holding a bearer token every route but /healthz then requires' })
      .option('log-level', { choices: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', describe: 'pino log level (JSON lines on stdout)' })
      .option('encoder', { type: 'string', describe: 'BEATs/EAT detectors: the official encoder file' })
      .version(false) as unknown as Argv<ServeArgs>,
  handler: async (a) => {
    if (a.threads !== undefined) setThreads(parseThreads(a.threads));
    for (const [k, v] of [['--max-batch', a.maxBatch], ['--max-queue', a.maxQueue]] as const) if (!(Number.isInteger(v) && v >= 1)) throw new Error(`${k} must be a positive integer, got ${v}`);
    if (!(a.maxWaitMs >= 0) || !(a.maxBodyMb > 0)) throw new Error('--max-wait-ms must be >= 0 and --max-body-mb > 0');
    let token: string | undefined;
    if (a.tokenFile) {
      token = (await fs.readFile(a.tokenFile, 'utf8').catch((e: Error) => {
        throw new Error(`--token-file ${a.tokenFile}: ${e.message}`);
      })).trim();
      if (token.length < 16) throw new Error(`--token-file ${a.tokenFile}: the token is ${token.length} characters; use at least 16`);
    }
    const detectors = new Map<string, Detector>();
    try {
      for (const spec of a.detectors) {
        const eq = spec.indexOf('=');
        const dir = eq > 0 ? spec.slice(eq + 1) : spec;
        const d = await Detector.load(dir, { device: a.device, encoder: a.encoder }).catch((e: Error) => {
          throw new Error(`cannot serve ${dir}: ${e.message}`);
        });
        const name = eq > 0 ? spec.slice(0, eq) : d.manifest.machine;
        if (!/^[\w.-]+$/.test(name)) throw new Error(`detector name "${name}" (${dir}): use letters, digits, '_', '-' and '.'`);
        if (detectors.has(name)) throw new Error(`two detectors named "${name}" (${path.resolve(dir)}); name them NAME=DIR`);
        detectors.set(name, d);
      }
      const app = createServer({
        detectors, maxBatch: a.maxBatch, maxWaitMs: a.maxWaitMs, maxBodyMb: a.maxBodyMb, maxQueue: a.maxQueue, token,
        logger: { level: a.logLevel },
      });
      const address = await app.listen({ host: a.host, port: a.port });
      app.log.info({ detectors: [...detectors.keys()], address }, `asdkit serving ${detectors.size} detector(s) on ${address}`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          app.log.info(`${signal}: finishing queued clips, then exiting`);
          void app.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    } finally {
      for (const d of detectors.values()) d.dispose();
    }
  },
};
