/**
 * Serves the built web console (console/dist, made by `npm run build:console`, which `npm install`
 * runs as `prepare`) under /console/ on the API port. Only the files found in that folder when it
 * is first read are served, by exact name: a request path is looked up in that table, never joined
 * to a file system path, so nothing outside the folder can be named. Hashed assets (assets/*) are
 * cached for a year as immutable; index.html is revalidated every time. Without a built console,
 * /console/ answers a page saying how to build it.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, sep } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where the build writes the console (from src/http/ and from the package's dist/http/ alike). */
export const CONSOLE_DIST = join(import.meta.dirname, '..', '..', 'console', 'dist');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
  '.map': 'application/json',
};
const COMPRESSIBLE = new Set(['.html', '.js', '.css', '.svg', '.json', '.map', '.txt']);
const MAX_FILES = 2000;
const MAX_FILE_BYTES = 20 * 1024 * 1024;

/** What every console answer carries: its content may run only its own scripts and talk only to this server. */
const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

interface StaticFile {
  body: Buffer;
  gzip?: Buffer;
  type: string;
  immutable: boolean;
}

const NOT_BUILT = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>OpenTrail console not built</title></head>
<body style="font-family: sans-serif; max-width: 40em; margin: 3em auto; line-height: 1.5">
<h1>The OpenTrail console is not built</h1>
<p>This server has no built console in <code>console/dist</code>. Build it with</p>
<pre>npm run build:console</pre>
<p>(<code>npm install</code> runs it too), then reload this page. The CloudTrail API on this port works without it.</p>
</body></html>`;

/** Reads the built console into memory: name (relative, with /) to file. Undefined when it is not built. */
function load(dir: string): Map<string, StaticFile> | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const files = new Map<string, StaticFile>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else if (st.isFile() && st.size <= MAX_FILE_BYTES && files.size < MAX_FILES) {
        const ext = extname(name).toLowerCase();
        const type = TYPES[ext];
        if (!type) continue;
        const rel = relative(dir, full).split(sep).join('/');
        const body = readFileSync(full);
        files.set(rel, { body, type, immutable: rel.startsWith('assets/'), gzip: COMPRESSIBLE.has(ext) && body.length > 1024 ? gzipSync(body, { level: 6 }) : undefined });
      }
    }
  };
  walk(dir);
  return files;
}

/** GET /console, /console/ and /console/<file> on the app. */
export function registerConsoleStatic(app: FastifyInstance, dir = CONSOLE_DIST): void {
  let files: Map<string, StaticFile> | undefined;
  const table = () => (files ??= load(dir));

  const send = (req: FastifyRequest, reply: FastifyReply, file: StaticFile) => {
    reply.headers(SECURITY_HEADERS).header('content-type', file.type);
    reply.header('cache-control', file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
    reply.header('vary', 'accept-encoding');
    const accepts = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (file.gzip && accepts) return reply.header('content-encoding', 'gzip').send(file.gzip);
    return reply.send(file.body);
  };

  const index = async (req: FastifyRequest, reply: FastifyReply) => {
    const t = table();
    const file = t?.get('index.html');
    if (!file) return reply.code(503).headers(SECURITY_HEADERS).header('cache-control', 'no-store').header('content-type', 'text/html; charset=utf-8').send(NOT_BUILT);
    return send(req, reply, file);
  };
  app.get('/console', async (_req, reply) => reply.redirect('/console/', 301));
  app.get('/console/', index);
  app.get('/console/*', async (req, reply) => {
    const name = (req.params as { '*': string })['*'];
    const file = table()?.get(name);
    if (!file) {
      reply.headers(SECURITY_HEADERS).header('content-type', 'text/plain; charset=utf-8');
      return reply.code(404).send(`No console file ${name.slice(0, 200)}`);
    }
    return send(req, reply, file);
  });
}
