/**
 * Progress on a stand-in stream with a clock of the test's: plain lines (when they start, how
 * often, the last one), the terminal bar (drawn in place, the command's lines printed above it,
 * erased at the end), and nothing at all with `never` or TERM=dumb on a terminal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, Progress, type ProgressStream } from './progress.ts';

function stream(isTTY: boolean): ProgressStream & { text: string } {
  const s: ProgressStream & { text: string } = { text: '', isTTY, columns: 100, write: (t: string) => { s.text += t; return true; } };
  return s;
}

test('plain lines: none in the quiet time, then every tenth or every interval, and a last one', () => {
  const out = stream(false);
  let now = 0;
  // (a function: assert.equal would narrow the property to the literal it compared)
  const text = () => out.text;
  const p = new Progress({ label: 'job', unit: 'files', stream: out, nowMs: () => now, quietMs: 5000, everyMs: 3000 });
  for (let i = 0; i <= 50; i++) {
    now = i * 50;
    p.update({ done: i, total: 200, detail: 'x' });
  }
  assert.equal(text(), '', 'nothing before the quiet time ends');
  now = 5000;
  p.update({ done: 60, total: 200, detail: 'x' });
  assert.equal(text(), 'job: 60/200 files (30%), ETA 12s, x\n');
  now = 5100;
  p.update({ done: 61, total: 200 });
  assert.equal(text().split('\n').length, 2, 'not again so soon');
  now = 5200;
  p.update({ done: 80, total: 200 });
  assert.match(text().split('\n').at(-2)!, /^job: 80\/200 files \(40%\), ETA /, 'a tenth more done');
  now = 8300;
  p.update({ done: 81, total: 200 });
  assert.match(text().split('\n').at(-2)!, /^job: 81\/200 files \(40%\)/, 'the interval passed');
  now = 9000;
  p.update({ done: 200, total: 200 });
  p.stop();
  const lines = text().trimEnd().split('\n');
  assert.equal(lines.at(-1), 'job: 200/200 files (100%), done in 9s');
  assert.ok(!text().includes('\r') && !text().includes('\x1b'), 'no terminal codes in plain lines');
  p.update({ done: 1, total: 1 });
  assert.equal(text().trimEnd().split('\n').length, lines.length, 'nothing after stop');
});

test('plain lines: a short run prints nothing at all; `always` prints from the start; `never` never', () => {
  let now = 0;
  const quiet = stream(false);
  const p = new Progress({ label: 'job', unit: 'files', stream: quiet, nowMs: () => now });
  for (let i = 1; i <= 10; i++) {
    now = i * 500;
    p.update({ done: i, total: 10 });
  }
  p.stop();
  assert.equal(quiet.text, '');

  now = 0;
  const always = stream(false);
  const a = new Progress({ label: 'job', unit: 'events', stream: always, mode: 'always', nowMs: () => now });
  a.update({ done: 0, total: 1_000_000 });
  now = 1000;
  a.update({ done: 250_000, total: 1_000_000, detail: '250,000 events/s' });
  now = 4000;
  a.update({ done: 1_000_000, total: 1_000_000 });
  a.stop();
  assert.deepEqual(always.text.trimEnd().split('\n'), [
    'job: 0/1,000,000 events (0%), ETA ?',
    'job: 250,000/1,000,000 events (25%), ETA 3s, 250,000 events/s',
    'job: 1,000,000/1,000,000 events (100%), ETA 0s',
    'job: 1,000,000/1,000,000 events (100%), done in 4s',
  ]);

  for (const s of [stream(false), stream(true)]) {
    const n = new Progress({ label: 'job', unit: 'files', stream: s, mode: 'never', nowMs: () => 99_999 });
    n.update({ done: 5, total: 10 });
    n.print((t) => s.write(t), 'own line\n');
    n.stop();
    assert.equal(s.text, 'own line\n');
  }
});

test('terminal: a bar redrawn in place, the command\'s lines above it, erased at the end', async () => {
  const tty = stream(true);
  const p = new Progress({ label: 'job', unit: 'files', stream: tty, fps: 50 });
  let own = '';
  p.print((t) => { own += t; }, 'Validating ...\n\n');
  p.update({ done: 3, total: 12, detail: '1/2 digests' });
  await new Promise((r) => setTimeout(r, 60));
  assert.match(tty.text, /job: \[#####---------------\] 3\/12 files \(25%\), ETA \d+s, 1\/2 digests/);
  assert.ok(tty.text.includes('\r\x1b[2K'), 'the bar line erased before the command\'s line');
  p.update({ done: 12, total: 12 });
  p.stop();
  assert.equal(own, 'Validating ...\n\n', 'the command\'s own text is unchanged');
  // Erased at the end: the last thing written clears the line the bar was on.
  assert.match(tty.text, /\x1b\[2K$/);
  for (const line of tty.text.split(/\r|\x1b\[1G/)) assert.ok(line.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '').length <= 99, 'cut at the width');

  const dumb = stream(true);
  const d = new Progress({ label: 'job', unit: 'files', stream: dumb, term: 'dumb', nowMs: () => 0 });
  d.update({ done: 1, total: 2 });
  d.stop();
  assert.equal(dumb.text, '', 'TERM=dumb: plain lines, and a short run has none');
});

test('durations read like a person writes them', () => {
  assert.equal(formatDuration(0), '0s');
  assert.equal(formatDuration(42.4), '42s');
  assert.equal(formatDuration(65), '1m 05s');
  assert.equal(formatDuration(7380), '2h 03m');
  assert.equal(formatDuration(Number.POSITIVE_INFINITY), '?');
});

test('a phase with nothing to count yet: `label: phase for 4s`, a plain line every everyMs although done stays, then the count', () => {
  let now = 0;
  const s = stream(false);
  const p = new Progress({ label: 'query', unit: 'rows', stream: s, mode: 'always', everyMs: 2000, nowMs: () => now });
  p.update({ done: 0, total: 0, phase: 'running' });
  now = 1000;
  p.update({ done: 0, total: 0, phase: 'running' });
  now = 4000;
  p.update({ done: 0, total: 0, phase: 'running' });
  now = 5000;
  p.update({ done: 1000, total: 3000 });
  p.update({ done: 3000, total: 3000 });
  p.stop();
  assert.deepEqual(s.text.trimEnd().split('\n'), [
    'query: running for 0s',
    'query: running for 4s',
    'query: 1,000/3,000 rows (33%), ETA 10s',
    'query: 3,000/3,000 rows (100%), ETA 0s',
    'query: 3,000/3,000 rows (100%), done in 5s',
  ]);
});
