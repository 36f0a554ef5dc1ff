/** Runs the real AWS CLI (`aws` on PATH) and returns its exit code and output; never throws. */
import { execFile } from 'node:child_process';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runAws(args: string[], env: Record<string, string>): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('aws', args, { env, maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs this repository's `opentrail` command (bin/opentrail.js) and returns its exit code and output; never throws. */
export function runOpentrail(args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [new URL('../../bin/opentrail.js', import.meta.url).pathname, ...args], { maxBuffer: 64 << 20, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
