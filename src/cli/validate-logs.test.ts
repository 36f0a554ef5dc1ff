import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCliTime, validateLogsCommand, type ValidateCommandIo } from './validate-logs.ts';

test('times: the forms the AWS CLI reads, UTC unless a zone is given, epoch seconds', () => {
  const jan1 = Date.UTC(2026, 0, 1);
  for (const s of ['2026-01-01T00:00:00Z', '2026-01-01', '2026-01-01T00:00:00', '2026-01-01 00:00', '20260101T000000Z', '20260101', '2026-01-01T00:00:00.000Z', '1767225600', 'Jan 1 2026', '2026-01-01T02:00:00+02:00']) {
    assert.equal(parseCliTime(s), jan1, s);
  }
  assert.equal(parseCliTime('2026-01-01T05:06:07.891Z'), jan1 + 5 * 3_600_000 + 6 * 60_000 + 7891);
  assert.equal(parseCliTime('1767225600.5'), jan1 + 500);
  for (const s of ['garbage', '2026-13-01', '2026-02-30', '2026-01-01T25:00:00Z', '']) assert.throws(() => parseCliTime(s), /^Error: Unable to parse date value: /, s);
});

function io(): ValidateCommandIo & { out: string; err: string } {
  const r = {
    out: '', err: '',
    stdout: (s: string) => { r.out += s; },
    stderr: (s: string) => { r.err += s; },
    env: { AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y' },
    nowMs: () => Date.UTC(2026, 0, 2),
  };
  return r;
}

test('argument errors before any call: exit codes and messages of the AWS CLI', async () => {
  const arn = 'arn:aws:cloudtrail:us-east-1:111111111111:trail/t';
  let o = io();
  assert.equal(await validateLogsCommand([], o), 2);
  assert.match(o.err, /the following arguments are required: --trail-arn, --start-time\n$/);
  o = io();
  assert.equal(await validateLogsCommand(['--trail-arn', arn, '--start-time', 'x', '--bogus'], o), 255);
  assert.equal(o.err, '\nUnknown options: --bogus\n');
  o = io();
  assert.equal(await validateLogsCommand(['--trail-arn', 'foo', '--start-time', '2026-01-01'], o), 255);
  assert.equal(o.err, '\nInvalid trail ARN provided: foo\n');
  assert.equal(o.out, '');
  o = io();
  assert.equal(await validateLogsCommand(['--trail-arn', 'foo', '--start-time', 'garbage'], o), 255);
  assert.equal(o.err, '\nUnable to parse date value: garbage\n');
  o = io();
  assert.equal(await validateLogsCommand(['--trail-arn', arn, '--start-time', '2026-01-03'], o), 255);
  assert.equal(o.err, '\nInvalid time range specified: start-time must occur before end-time\n');
});
