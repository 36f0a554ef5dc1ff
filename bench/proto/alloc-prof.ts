// Preload for a server under measurement (node --import): SIGUSR2 starts V8's sampling heap
// profiler on the main thread, counting objects that garbage collections already took (so it is
// what was allocated, not what is alive); the next SIGUSR2 stops it and writes the profile to
// ALLOC_PROF_FILE (.heapprofile, Chrome DevTools' format). Bench only.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
const file = process.env.ALLOC_PROF_FILE;
if (file) {
  const s = new Session();
  s.connect();
  const post = (m: string, p?: object) => new Promise<{ profile?: unknown }>((res, rej) => s.post(m as never, (p ?? {}) as never, (e: Error | null, r: unknown) => (e ? rej(e) : res(r as { profile?: unknown }))));
  let on = false;
  const toggle = async () => {
    if (!on) {
      on = true;
      await post('HeapProfiler.enable');
      await post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
      process.stderr.write('alloc-prof: started\n');
    } else {
      on = false;
      const r = await post('HeapProfiler.stopSampling');
      writeFileSync(file, JSON.stringify(r.profile));
      process.stderr.write('alloc-prof: written\n');
    }
  };
  process.on('SIGUSR2', () => void toggle());
}
