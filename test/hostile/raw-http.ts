/** Raw HTTP for the hostile suite: posts whose body is sent in part or not at all, and a process's RSS. */
import { readFileSync } from 'node:fs';
import { request, type IncomingHttpHeaders } from 'node:http';

export interface RawAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  /** Set when the connection failed without an answer. */
  error?: string;
  /** Body bytes written before the answer came. */
  sentBytes: number;
}

/**
 * A raw POST: headers as given; the body written in pieces (`sendBytes` of it at most, then the
 * request is left open). Resolves with the answer as soon as it arrives (the body need not be
 * finished), or `error` when the connection failed without one.
 */
export function rawPost(url: string, path: string, headers: Record<string, string>, body: Buffer, opts: { sendBytes?: number; timeoutMs?: number } = {}): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const u = new URL(url);
    let sent = 0;
    let settled = false;
    const done = (v: Omit<RawAnswer, 'sentBytes'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ...v, sentBytes: sent });
    };
    const req = request({ host: u.hostname, port: u.port, path, method: 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => done({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString() }));
      res.on('error', () => done({ status: res.statusCode!, headers: res.headers, text: Buffer.concat(chunks).toString() }));
    });
    const timer = setTimeout(() => done({ status: 0, headers: {}, text: '', error: 'no answer in time' }), opts.timeoutMs ?? 30_000);
    req.on('error', (e) => done({ status: 0, headers: {}, text: '', error: e.message }));
    const limit = Math.min(body.length, opts.sendBytes ?? body.length);
    const piece = 256 * 1024;
    const write = () => {
      while (sent < limit && !settled) {
        const chunk = body.subarray(sent, Math.min(limit, sent + piece));
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once('drain', write);
      }
      if (!settled && limit === body.length) req.end();
    };
    write();
  });
}

/** The resident set of a process, MiB (0 once it is gone). */
export function rssMiB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) / 1024;
  } catch {
    return 0; // the process is gone; assertAlive reports it
  }
}

/** Samples a process's RSS every 20 ms until stopped; resolves with the highest value seen (MiB). */
export function samplePeakRss(pid: number, from: number): { stop(): Promise<number> } {
  let peak = from;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, rssMiB(pid));
      // Unref'd: a test that fails before stop() must not keep its process alive (it hung a CI run).
      await new Promise((r) => setTimeout(r, 20).unref());
    }
  })();
  return {
    stop: async () => {
      sampling = false;
      await sampler;
      return peak;
    },
  };
}
