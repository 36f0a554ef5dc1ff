/**
 * `opentrail validate-logs --bucket-root` on the filesystem bucket of a server that delivers and
 * writes digests there (2 s digest period): all valid, then a tampered log file and a deleted
 * digest are reported with the AWS CLI's lines and exit codes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { FS_TRAIL_ACCOUNT as A, FS_TRAIL_ARN as ARN, useFsTrail } from './helpers/fs-trail.ts';

const BUCKET = 'ot-fs-validate';

const fixture = useFsTrail(BUCKET);
const files = (dir: string) => fixture.trail.files(dir);
const validate = (extra: string[] = []) => fixture.trail.validate(extra);

test('the filesystem bucket: valid, then each tampering reported as the AWS CLI words it', async () => {
  const digests = files(join(fixture.trail.root, BUCKET, 'AWSLogs', A, 'CloudTrail-Digest'));
  const logs = files(join(fixture.trail.root, BUCKET, 'AWSLogs', A, 'CloudTrail'));
  assert.ok(digests.length >= 4 && logs.length >= 2, `${digests.length} digests, ${logs.length} log files`);

  const ok = await validate(['--verbose']);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stderr, '');
  assert.match(ok.stdout, new RegExp(`^Validating log files for trail ${ARN} between `));
  assert.match(ok.stdout, new RegExp(`\\n${digests.length}/${digests.length} digest files valid\\n${logs.length}/${logs.length} log files valid\\n$`));
  assert.equal(ok.stdout.split('\n').filter((l) => /^Digest file\ts3:\/\/.+\tvalid$/.test(l)).length, digests.length);

  const log = join(fixture.trail.root, BUCKET, logs[0]!);
  const original = readFileSync(log);
  writeFileSync(log, gzipSync(Buffer.from('{"Records":[]}')));
  const modified = await validate();
  assert.equal(modified.code, 1);
  assert.equal(modified.stderr, `Log file\ts3://${BUCKET}/${logs[0]}\tINVALID: hash value doesn't match\n\n`);
  assert.match(modified.stdout, new RegExp(`\\n${logs.length - 1}/${logs.length} log files valid, 1/${logs.length} log files INVALID\\n$`));
  writeFileSync(log, original);

  const digest = join(fixture.trail.root, BUCKET, digests[1]!);
  renameSync(digest, `${digest}.away`);
  const deleted = await validate();
  assert.equal(deleted.code, 1);
  assert.equal(deleted.stderr, `Digest file\ts3://${BUCKET}/${digests[1]}\tINVALID: not found\n\n`);
  renameSync(`${digest}.away`, digest);

  assert.equal((await validate()).code, 0);
});
