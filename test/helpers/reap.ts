/**
 * The test process's own children (servers, moto, PostgreSQL) die with it. A test that fails
 * between a start and its `after` leaves its child running; the runner then ends the test file's
 * process (--test-force-exit), and this kills what is left, so no server outlives its test file
 * and keeps taking CPU from the rest of the suite.
 */
import type { ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let hooked = false;

export function reapOnExit(child: ChildProcess): void {
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}
