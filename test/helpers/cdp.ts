/**
 * A minimal Chrome DevTools Protocol client over `--remote-debugging-pipe` (fd 3: commands in,
 * fd 4: replies and events out, each message JSON ended by a NUL byte), so tests can drive the
 * system Chromium without a WebSocket library or a browser download.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';

/** `$CHROMIUM` or the first Chromium/Chrome executable on PATH. */
export function findChromium(): string | undefined {
  const candidates = process.env.CHROMIUM ? [process.env.CHROMIUM] : [];
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    for (const name of ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']) candidates.push(path.join(dir, name));
  }
  return candidates.find((f) => {
    try {
      accessSync(f, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
}

export interface CdpEvent {
  method: string;
  params: Record<string, unknown>;
  sessionId?: string;
}

export class Browser {
  private nextId = 1;
  private pending = new Map<number, { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }>();
  private listeners: Array<(e: CdpEvent) => void> = [];
  private exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    private readonly profile: string,
  ) {
    const out = child.stdio[4] as Readable;
    let buffer = '';
    out.setEncoding('utf8');
    out.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\0')) >= 0) {
        const msg = JSON.parse(buffer.slice(0, end)) as { id?: number; result?: Record<string, unknown>; error?: { message: string } } & CdpEvent;
        buffer = buffer.slice(end + 1);
        if (msg.id !== undefined) {
          const p = this.pending.get(msg.id);
          this.pending.delete(msg.id);
          if (msg.error) p?.reject(new Error(`CDP: ${msg.error.message}`));
          else p?.resolve(msg.result ?? {});
        } else {
          for (const l of this.listeners) l(msg);
        }
      }
    });
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => {
      for (const p of this.pending.values()) p.reject(new Error('Chromium exited'));
    });
  }

  static async launch(executable: string, windowSize = '1280,2000'): Promise<Browser> {
    const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-chromium-'));
    const args = ['--headless=new', '--disable-gpu', '--no-sandbox', '--no-first-run', '--hide-scrollbars', '--remote-debugging-pipe', `--user-data-dir=${profile}`, `--window-size=${windowSize}`, 'about:blank'];
    const child = spawn(executable, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
    return new Browser(child, profile);
  }

  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      (this.child.stdio[3] as Writable).write(JSON.stringify({ id, method, params, sessionId }) + '\0');
    });
  }

  on(listener: (e: CdpEvent) => void): void {
    this.listeners.push(listener);
  }

  /** Resolves with the first event `match` accepts. */
  waitFor(match: (e: CdpEvent) => boolean): Promise<CdpEvent> {
    return new Promise((resolve) => this.on((e) => match(e) && resolve(e)));
  }

  async close(): Promise<void> {
    await Promise.race([this.send('Browser.close').catch(() => undefined), new Promise((r) => setTimeout(r, 5000))]);
    if (this.child.exitCode === null) this.child.kill('SIGKILL');
    await this.exited;
    await fs.rm(this.profile, { recursive: true, force: true });
  }
}
