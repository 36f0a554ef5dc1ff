#!/usr/bin/env node
// OpenTrail's command. Needs Node 24 (a checkout runs the TypeScript sources directly); on an older
// system Node it re-runs itself with the Node 24 that `npm install` put in node_modules, as a
// child that gets every signal this process gets, whose exit status this process exits with, and
// that never outlives it (it watches the IPC channel to this process and shuts down when it closes).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
// The server's main thread runs with a young generation of 2 x 16 MiB, not V8's 2 x 64 MiB (64-bit
// without pointer compression), and glibc with 2 malloc arenas (not 8 per core) and a fixed mmap
// threshold of 4 MiB (freed blocks that large go back to the OS instead of staying in an arena; at
// 256 KiB every request body was mapped and zeroed again, ~15 % of ingest throughput): all count
// in the server's RSS (docs/storage.md "Memory"). The old generation is capped at 1.5 GiB: with
// V8's default cap (~4 GiB here) its growth factor let lookups' garbage reach 300 MiB before a full
// collection (RSS 666 MiB at 10M events); at 1.5 GiB it is collected near 115 MiB (484 MiB), and
// the cap still holds two admitted bulk bodies of ingest.maxDecodedBytes parsed. V8 takes heap sizes only
// at start, so `serve` without them re-executes itself in place with them (process.execve: same
// pid, same stdio). A value already in the environment or on the command line is kept.
const SERVE_FLAGS = ['--max-semi-space-size=16', '--max-old-space-size=1536'];
const SERVE_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '4194304' };
const serving = process.argv[2] === 'serve';
/** The serve flags not already given (on the command line or in NODE_OPTIONS, which then wins). */
const missingServeFlags = (/** @type {string[]} */ given) => SERVE_FLAGS.filter((f) => !given.some((a) => a.startsWith(f.slice(0, f.indexOf('=')))));
if (major < 24) {
  const local = fileURLToPath(new URL('../node_modules/node/bin/node', import.meta.url));
  if (!existsSync(local)) {
    console.error(`opentrail needs Node.js 24 or newer (this is ${process.version}); in a checkout, npm install brings it.`);
    process.exit(1);
  }
  // Loaded here only: node:child_process is a few ms of every command's start on Node 24.
  const { spawn } = await import('node:child_process');
  const child = spawn(local, [...(serving ? missingServeFlags((process.env.NODE_OPTIONS ?? '').split(/\s+/)) : []), fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: serving ? { ...SERVE_ENV, ...process.env } : process.env,
  });
  // Signals the server may act on are passed on as they come. Ctrl-C in a terminal reaches both
  // processes (same process group); the server treats a repeated SIGINT/SIGTERM as the first one.
  /** @type {NodeJS.Signals[]} */
  const FORWARD = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGTERM', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGALRM', 'SIGCONT'];
  const handlers = new Map();
  for (const sig of FORWARD) {
    const h = () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    };
    handlers.set(sig, h);
    process.on(sig, h);
  }
  // Job control: a stop request stops the server, then this process (SIGCONT above resumes both).
  const onTstp = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTSTP');
    process.kill(process.pid, 'SIGSTOP');
  };
  handlers.set('SIGTSTP', onTstp);
  process.on('SIGTSTP', onTstp);
  child.on('error', (e) => {
    console.error(`opentrail: cannot start ${local}: ${e.message}`);
    process.exit(1);
  });
  child.on('exit', (code, signal) => {
    if (signal) {
      // Die of the same signal, so whoever started us sees what happened to the server.
      for (const [sig, h] of handlers) process.off(sig, h);
      process.kill(process.pid, signal);
      return;
    }
    process.exit(code ?? 1);
  });
} else {
  const missing = missingServeFlags([...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)]);
  if (serving && !process.channel && typeof process.execve === 'function' && process.platform !== 'win32' && missing.length > 0) {
    process.execve(process.execPath, [process.execPath, ...missing, ...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], { ...SERVE_ENV, ...process.env });
  }
  if (process.channel) {
    // Started by the launcher above: shut down (as on SIGTERM) when it goes away, however it died.
    process.channel.unref();
    process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  }
  // Node's compile cache (type-stripped sources and V8 code, in the OS temp dir) halves the start-up
  // of every command after the first run; where it cannot be written, Node goes on without it.
  (await import('node:module')).enableCompileCache?.();
  // A checkout runs the TypeScript sources; the npm package, which Node will not strip types for
  // under node_modules, ships them compiled to dist/ instead (docs/install.md).
  const sources = new URL('../src/cli/main.ts', import.meta.url);
  /** @type {{ main(argv: string[]): Promise<number> }} */
  const { main } = await import(existsSync(sources) ? sources.href : new URL('../dist/cli/main.js', import.meta.url).href);
  const code = await main(process.argv.slice(2));
  if (code >= 0) process.exitCode = code;
}
