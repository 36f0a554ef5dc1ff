/** Runs a shell script as a reader would paste it (README blocks), in its own process group. */
import { spawn } from 'node:child_process';

export interface ScriptRun {
  code: number | null;
  out: string;
  err: string;
}

/**
 * `bash <args> -c script` in `cwd` with exactly `env`; killed (with everything it started) after
 * `timeoutMs`, and whatever it left running is killed when it ends.
 */
export async function runBash(script: string, opts: { cwd: string; env: Record<string, string>; args?: string[]; timeoutMs?: number }): Promise<ScriptRun> {
  const child = spawn('bash', [...(opts.args ?? []), '-c', script], { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise<number | null>((res) => {
    const timer = setTimeout(() => process.kill(-child.pid!, 'SIGKILL'), opts.timeoutMs ?? 200_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      res(c);
    });
  });
  try {
    process.kill(-child.pid!, 'SIGKILL'); // anything the script left running
  } catch { /* all ended */ }
  return { code, out, err };
}
