import { spawn } from 'node:child_process';

/** The PID of a process that has just exited (a stale lock or temp file's owner). */
export async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('exit', () => resolve());
    child.once('error', reject);
  });
  return child.pid!;
}
