/**
 * A real single-node Slurm cluster for tests, in a temp folder: munged with its own key and
 * socket, slurmctld and slurmd on free localhost ports, one partition `test` with this machine's
 * cores. Needs root and the Debian packages slurm-wlm and munge (.ci/run installs them). Anything
 * missing or a daemon that will not come up gives `{ skip: reason }` instead of a cluster.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promises as fs, openSync, closeSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

export interface SlurmCluster {
  dir: string;
  conf: string;
  /** What every Slurm client call needs in its environment. */
  env: { SLURM_CONF: string };
  /** `sinfo`, `squeue`, `scancel` … with this cluster's config. */
  client(bin: string, args: string[]): Promise<string>;
  stop(): Promise<void>;
}

const BINARIES = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'sinfo'];

async function onPath(bin: string): Promise<boolean> {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin'])) {
    try {
      await fs.access(path.join(dir, bin), fs.constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const tail = async (file: string, n = 6) => (await fs.readFile(file, 'utf8').catch(() => '')).trim().split('\n').slice(-n).join(' | ');

export async function startSlurmCluster(timeoutMs = 30_000): Promise<SlurmCluster | { skip: string }> {
  if (process.platform !== 'linux') return { skip: 'Slurm test needs Linux' };
  if (process.getuid?.() !== 0) return { skip: 'Slurm test needs root (the daemons run as SlurmUser=root)' };
  const missing: string[] = [];
  for (const b of BINARIES) if (!(await onPath(b))) missing.push(b);
  if (missing.length) return { skip: `Slurm test: not installed: ${missing.join(', ')} (apt-get install slurm-wlm munge)` };

  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-slurm-'));
  // munged refuses a socket folder that others cannot traverse; mkdtemp makes 0700.
  await fs.chmod(dir, 0o755);
  for (const d of ['munge', 'state', 'spool', 'log']) await fs.mkdir(path.join(dir, d), { mode: 0o755 });
  const key = path.join(dir, 'munge', 'munge.key');
  await fs.writeFile(key, randomBytes(1024), { mode: 0o400 });
  const socket = path.join(dir, 'munge', 'munge.socket');
  const conf = path.join(dir, 'slurm.conf');
  const env = { SLURM_CONF: conf };
  const children: ChildProcess[] = [];
  // The daemons run in the foreground as our children, so stop() (or our exit) ends exactly them.
  const killAll = () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  };
  process.once('exit', killAll);
  const daemon = (bin: string, args: string[], log: string) => {
    const fd = openSync(path.join(dir, 'log', log), 'a');
    const c = spawn(bin, args, { stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
    closeSync(fd);
    c.on('error', () => {});
    children.push(c);
    return c;
  };
  const client = async (bin: string, args: string[]) => (await exec(bin, args, { env: { ...process.env, ...env } })).stdout;
  const stop = async () => {
    process.removeListener('exit', killAll);
    // Tasks live on in their slurmstepd when slurmd goes: cancel what is left (a failed test) first.
    if (children.length > 1 && children.every((c) => c.exitCode === null && c.signalCode === null)) {
      try {
        await client('scancel', ['--user=root']);
        for (const end = Date.now() + 20_000; Date.now() < end && (await client('squeue', ['-h'])).trim(); ) await new Promise((r) => setTimeout(r, 250));
      } catch {
        /* the controller is gone: nothing to cancel through it */
      }
    }
    // slurmctld/slurmd first (they talk to munged while shutting down), then munged.
    for (const group of [children.slice(1).reverse(), children.slice(0, 1)]) {
      await Promise.all(
        group.map(async (c) => {
          if (c.exitCode !== null || c.signalCode !== null) return;
          const gone = new Promise((r) => c.once('exit', r));
          c.kill('SIGTERM');
          const t = setTimeout(() => c.kill('SIGKILL'), 5000);
          await gone;
          clearTimeout(t);
        }),
      );
    }
    await fs.rm(dir, { recursive: true, force: true });
  };
  const fail = async (why: string) => {
    // Each daemon's log file and its stdout/stderr (where it writes before its log is open).
    const logs: string[] = [];
    for (const name of ['munged', 'slurmctld', 'slurmd']) {
      for (const f of [`${name}.log`, `${name}.out`]) {
        const text = await tail(path.join(dir, 'log', f), 3);
        if (text) logs.push(`${f}: ${text}`);
      }
    }
    await stop();
    return { skip: `Slurm test: ${why}${logs.length ? ` (${logs.join('; ')})` : ''}` };
  };

  daemon('munged', ['--foreground', `--key-file=${key}`, `--socket=${socket}`, `--pid-file=${path.join(dir, 'munge', 'munged.pid')}`,
    `--log-file=${path.join(dir, 'log', 'munged.log')}`, `--seed-file=${path.join(dir, 'munge', 'munged.seed')}`], 'munged.out');
  const up = async (what: string, ready: () => Promise<boolean>) => {
    for (const end = Date.now() + timeoutMs; Date.now() < end; ) {
      const dead = children.find((c) => c.exitCode !== null || c.signalCode !== null);
      if (dead) return `${String(dead.spawnfile)} exited (${dead.exitCode ?? dead.signalCode})`;
      if (await ready().catch(() => false)) return undefined;
      await new Promise((r) => setTimeout(r, 200));
    }
    return `${what} not up after ${timeoutMs / 1000} s`;
  };
  let why = await up('munged', () => fs.access(socket).then(() => true));
  if (why) return fail(why);

  const host = os.hostname().split('.')[0];
  const cpus = os.availableParallelism();
  // Below the physical memory: slurmd drains a node whose RealMemory exceeds what it finds.
  const memMb = Math.max(256, Math.floor((os.totalmem() / 2 ** 20) * 0.8));
  const [ctldPort, dPort] = [await freePort(), await freePort()];
  await fs.writeFile(conf, [
    'ClusterName=asdkit-test',
    `SlurmctldHost=${host}(127.0.0.1)`,
    `SlurmctldPort=${ctldPort}`,
    `SlurmdPort=${dPort}`,
    'AuthType=auth/munge',
    'CredType=cred/munge',
    `AuthInfo=socket=${socket}`,
    'SlurmUser=root',
    'SlurmdUser=root',
    `StateSaveLocation=${path.join(dir, 'state')}`,
    `SlurmdSpoolDir=${path.join(dir, 'spool')}`,
    `SlurmctldPidFile=${path.join(dir, 'slurmctld.pid')}`,
    `SlurmdPidFile=${path.join(dir, 'slurmd.pid')}`,
    `SlurmctldLogFile=${path.join(dir, 'log', 'slurmctld.log')}`,
    `SlurmdLogFile=${path.join(dir, 'log', 'slurmd.log')}`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_CPU',
    'ReturnToService=2',
    'MpiDefault=none',
    'JobAcctGatherType=jobacct_gather/none',
    'AccountingStorageType=accounting_storage/none',
    'JobCompType=jobcomp/none',
    'MinJobAge=5',
    'InactiveLimit=0',
    // A cancelled task gets SIGTERM, then SIGKILL this many seconds later.
    'KillWait=10',
    `NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${memMb} State=UNKNOWN`,
    'PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
    '',
  ].join('\n'));
  daemon('slurmctld', ['-D', '-f', conf], 'slurmctld.out');
  daemon('slurmd', ['-D', '-f', conf, '-N', host], 'slurmd.out');
  why = await up('the node', async () => /^idle/m.test(await client('sinfo', ['-h', '-o', '%T'])));
  if (why) return fail(why);
  return { dir, conf, env, client, stop };
}
