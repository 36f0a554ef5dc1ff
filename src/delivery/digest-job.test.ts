/**
 * The digest job over real stores (SQLite control store, filesystem bucket) with a pinned clock:
 * one digest per period also when empty, a chain that survives a restart, files listed once,
 * signatures that verify with the Region's public key, and a final digest after StopLogging.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DELIVERED_FILE_KIND, trailKey, TRAIL_KIND, type DeliveredFile, type TrailDoc } from '../core/index.ts';
import { parseDigest, sha256Hex, signingString, SigningKeyStore, verifyDigestSignature } from '../integrity/index.ts';
import { SqliteControlStore } from '../stores/sqlite/index.ts';
import { FsObjectStore } from '../stores/fs/index.ts';
import { DigestJob } from './digest-job.ts';

const A = '111111111111';
const PERIOD = 60_000;
const T0 = Date.UTC(2026, 0, 1, 10, 0, 0);

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'ot-digest-'));
  mkdirSync(join(dir, 'buckets', 'digest-bucket'), { recursive: true });
  const control = new SqliteControlStore(join(dir, 'control.db'));
  const objects = new FsObjectStore(join(dir, 'buckets'));
  const clock = { now: T0, nowMs() { return this.now; } };
  const keys = new SigningKeyStore(control);
  const job = () => new DigestJob({ control, objects, keys, clock, logError: (m, e) => { throw new Error(`${m}: ${String(e)}`); } }, { periodMs: PERIOD, regions: ['us-east-1'] });
  return { dir, control, objects, clock, keys, job };
}

const trail: TrailDoc = {
  Name: 'audit', accountId: A, HomeRegion: 'us-east-1', TrailARN: `arn:aws:cloudtrail:us-east-1:${A}:trail/audit`, S3BucketName: 'digest-bucket',
  IncludeGlobalServiceEvents: true, IsMultiRegionTrail: false, LogFileValidationEnabled: true, IsOrganizationTrail: false, tags: [],
  isLogging: true, startLoggingTimeMs: T0 + 5_000, createdMs: T0,
};

function readDigest(dir: string, key: string) {
  const path = join(dir, 'buckets', 'digest-bucket', key);
  const bytes = gunzipSync(readFileSync(path));
  const meta = JSON.parse(readFileSync(`${path}.meta.json`, 'utf8')) as Record<string, string>;
  return { bytes, digest: parseDigest(bytes)!, signature: meta.signature! };
}

test('digests chain period after period, survive a restart, list each confirmed file once and verify', async () => {
  const { dir, control, clock, keys, job } = setup();
  await control.put(TRAIL_KIND, trailKey(A, 'us-east-1', 'audit'), trail);
  const file = (key: string, confirmedMs: number): DeliveredFile => ({ bucket: 'digest-bucket', key, accountId: A, region: 'us-east-1', sha256: 'ab'.repeat(32), oldestEventTime: '2026-01-01T10:00:01Z', newestEventTime: '2026-01-01T10:00:09Z', confirmedMs });
  await control.put(DELIVERED_FILE_KIND, `${trail.TrailARN}|f1`, file('f1', T0 + 10_000));

  clock.now = T0 + PERIOD + 1; // the first period has ended
  await job().tick();
  await control.put(DELIVERED_FILE_KIND, `${trail.TrailARN}|f2`, file('f2', T0 + PERIOD + 5_000));
  clock.now = T0 + 3 * PERIOD + 1; // two more periods: one with f2, one empty; a new job = a restart
  await job().tick();

  const chain: ReturnType<typeof readDigest>[] = [];
  for (const end of [T0 + PERIOD, T0 + 2 * PERIOD, T0 + 3 * PERIOD]) {
    const stamp = new Date(end).toISOString().replace(/[-:]|\.\d{3}/g, '');
    chain.push(readDigest(dir, `AWSLogs/${A}/CloudTrail-Digest/us-east-1/2026/01/01/${A}_CloudTrail-Digest_us-east-1_audit_us-east-1_${stamp}.json.gz`));
  }
  assert.deepEqual(chain.map((c) => c.digest.logFiles.map((f) => f.s3Object)), [['f1'], ['f2'], []]);
  assert.equal(chain[0]!.digest.digestStartTime, '2026-01-01T10:00:05Z', 'the first digest starts when logging started');
  assert.equal(chain[0]!.digest.previousDigestSignature, null);
  assert.equal(chain[2]!.digest.newestEventTime, null, 'an empty period has null event times');
  for (let i = 0; i < chain.length; i++) {
    const c = chain[i]!;
    const prev = chain[i - 1];
    assert.equal(c.digest.digestStartTime, prev ? prev.digest.digestEndTime : c.digest.digestStartTime);
    assert.equal(c.digest.previousDigestSignature, prev ? prev.signature : null);
    assert.equal(c.digest.previousDigestHashValue, prev ? sha256Hex(prev.bytes) : null);
    const key = await keys.keyByFingerprint('us-east-1', c.digest.digestPublicKeyFingerprint);
    assert.ok(key);
    const s = signingString({ digestEndTime: c.digest.digestEndTime, bucket: 'digest-bucket', key: c.digest.digestS3Object, digestSha256Hex: sha256Hex(c.bytes), previousSignature: c.digest.previousDigestSignature });
    assert.ok(verifyDigestSignature(key.publicKeyDer, s, c.signature), `digest ${i} verifies`);
  }
  assert.deepEqual(await control.list(DELIVERED_FILE_KIND, ''), [], 'listed files are not listed again');

  // StopLogging: one final digest, then none.
  await control.put(TRAIL_KIND, trailKey(A, 'us-east-1', 'audit'), { ...trail, isLogging: false, stopLoggingTimeMs: T0 + 3 * PERIOD + 10 });
  clock.now = T0 + 5 * PERIOD + 1;
  await job().tick();
  clock.now = T0 + 7 * PERIOD + 1;
  await job().tick();
  // The final digest ends with the period that holds the stop (10:03:00.010 -> 10:04:00), even
  // when the job only runs later; then no more digests.
  const final = readDigest(dir, `AWSLogs/${A}/CloudTrail-Digest/us-east-1/2026/01/01/${A}_CloudTrail-Digest_us-east-1_audit_us-east-1_20260101T100400Z.json.gz`);
  assert.equal(final.digest.previousDigestSignature, chain[2]!.signature);
  for (const stamp of ['100500', '100600', '100700']) {
    assert.throws(() => readDigest(dir, `AWSLogs/${A}/CloudTrail-Digest/us-east-1/2026/01/01/${A}_CloudTrail-Digest_us-east-1_audit_us-east-1_20260101T${stamp}Z.json.gz`), /ENOENT/);
  }
  await control.close();
});

test('a digest committed to the chain whose files were not all forgotten (interrupted): they are forgotten, not listed again', async () => {
  const { dir, control, clock, job } = setup();
  await control.put(TRAIL_KIND, trailKey(A, 'us-east-1', 'audit'), trail);
  const file = (key: string, confirmedMs: number): DeliveredFile => ({ bucket: 'digest-bucket', key, accountId: A, region: 'us-east-1', sha256: 'cd'.repeat(32), oldestEventTime: '2026-01-01T10:00:01Z', newestEventTime: '2026-01-01T10:00:09Z', confirmedMs });
  const records = ['f1', 'f2', 'f3'].map((k, i) => ({ key: `${trail.TrailARN}|${k}`, doc: file(k, T0 + 10_000 + i) }));
  for (const r of records) await control.put(DELIVERED_FILE_KIND, r.key, r.doc);
  clock.now = T0 + PERIOD + 1;
  await job().tick();
  // What an interruption after the chain's link was written, with only f1's record deleted, left
  // behind (the pending record as the job wrote it: the digest's bytes, its link, its files).
  const chainKey = `${trail.TrailARN}|${A}|us-east-1`;
  const link = await control.get<{ key: string; endMs: number }>('digest-chain', chainKey);
  assert.ok(link);
  const first = readDigest(dir, link.key);
  assert.deepEqual(first.digest.logFiles.map((f) => f.s3Object), ['f1', 'f2', 'f3']);
  await control.put('digest-pending', chainKey, { trailCreatedMs: trail.createdMs, link, json: first.bytes.toString('utf8'), fileKeys: records.map((r) => r.key) });
  for (const r of records.slice(1)) await control.put(DELIVERED_FILE_KIND, r.key, r.doc);

  clock.now = T0 + 2 * PERIOD + 1;
  await job().tick();
  const next = await control.get<{ key: string; endMs: number }>('digest-chain', chainKey);
  assert.equal(next!.endMs, T0 + 2 * PERIOD);
  assert.deepEqual(readDigest(dir, next!.key).digest.logFiles, [], 'f2 and f3 are in the first digest only');
  assert.deepEqual(await control.list(DELIVERED_FILE_KIND, ''), []);
  assert.equal(await control.get('digest-pending', chainKey), undefined);
  await control.close();
});
