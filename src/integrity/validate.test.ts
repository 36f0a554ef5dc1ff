/**
 * The validate-logs engine on a tiny chain in a temporary filesystem bucket, built with the
 * integrity module: four hourly digests (the first a starting digest), two log files each. Each test
 * tampers with the bucket and checks what is reported - what the AWS CLI reports, and the extended
 * checks (marked `extended`) for what it misses.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { logFileKey } from '../core/bucket-keys.ts';
import { FsObjectStore } from '../stores/fs/fs-object-store.ts';
import { FsBucketReader } from '../stores/fs/fs-bucket-reader.ts';
import {
  DIGEST_METADATA, digestKey, digestTime, serializeDigest, sha256Hex, signDigest, signingString, type DigestFile,
} from './digest.ts';
import { fingerprintOf, publicKeyDerOf } from './signing-keys.ts';
import { validateLogs, type ValidateOptions, type ValidationEvent, type ValidationSummary } from './validate.ts';

const ACCOUNT = '111111111111';
const REGION = 'us-east-1';
const TRAIL = 'audit';
const ARN = `arn:aws:cloudtrail:${REGION}:${ACCOUNT}:trail/${TRAIL}`;
const BUCKET = 'trail-bucket';
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 0, 1, 0, 0, 0);

function makeKey(): { der: Buffer; fingerprint: string; privateKey: KeyObject } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const der = publicKeyDerOf(publicKey);
  return { der, fingerprint: fingerprintOf(der), privateKey };
}
const KEY = makeKey();
const OTHER_KEY = makeKey();

interface DigestSpec {
  /** Index of the digest this one names as previous; null for a starting digest; default i - 1. */
  prev?: number | null;
  /** Sign with this key (default KEY). */
  key?: ReturnType<typeof makeKey>;
  /** Overrides applied to the digest document before signing. */
  patch?: Partial<DigestFile>;
}

interface Chain {
  root: string;
  digests: { key: string; startMs: number; endMs: number; logs: string[]; signature: string }[];
  logBody(n: number): Buffer;
}

function logKey(ms: number, id: string): string {
  return logFileKey({ accountId: ACCOUNT, region: REGION, deliveredMs: ms, batchIdentity: id });
}

/** Four hourly digests from T0 (00:00-01:00 ... 03:00-04:00), two log files each (at :10 and :40). */
async function buildChain(specs: DigestSpec[] = [{}, {}, {}, {}]): Promise<Chain> {
  const root = mkdtempSync(join(tmpdir(), 'ot-validate-'));
  mkdirSync(join(root, BUCKET));
  const store = new FsObjectStore(root);
  const digests: Chain['digests'] = [];
  const written: { key: string; hash: string; signature: string }[] = [];
  const logBody = (n: number) => Buffer.from(JSON.stringify({ Records: [{ eventID: `e${n}`, eventTime: digestTime(T0 + n * 60_000) }] }));
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i]!;
    const startMs = T0 + i * HOUR;
    const endMs = startMs + HOUR;
    const logs: DigestFile['logFiles'] = [];
    for (const minute of [10, 40]) {
      const key = logKey(startMs + minute * 60_000, `${i}-${minute}`);
      const body = logBody(i * 100 + minute);
      await store.putObject(BUCKET, key, gzipSync(body));
      logs.push({ s3Bucket: BUCKET, s3Object: key, hashValue: sha256Hex(body), hashAlgorithm: 'SHA-256', newestEventTime: digestTime(startMs), oldestEventTime: digestTime(startMs) });
    }
    const prevIndex = spec.prev === undefined ? (i === 0 ? null : i - 1) : spec.prev;
    const prev = prevIndex === null ? undefined : written[prevIndex];
    const key = digestKey({ accountId: ACCOUNT, region: REGION, trailName: TRAIL, homeRegion: REGION, endMs });
    const signer = spec.key ?? KEY;
    const d: DigestFile = {
      awsAccountId: ACCOUNT,
      digestStartTime: digestTime(startMs),
      digestEndTime: digestTime(endMs),
      digestS3Bucket: BUCKET,
      digestS3Object: key,
      digestPublicKeyFingerprint: signer.fingerprint,
      digestSignatureAlgorithm: 'SHA256withRSA',
      newestEventTime: digestTime(startMs),
      oldestEventTime: digestTime(startMs),
      previousDigestS3Bucket: prev ? BUCKET : null,
      previousDigestS3Object: prev ? prev.key : null,
      previousDigestHashValue: prev ? prev.hash : null,
      previousDigestHashAlgorithm: prev ? 'SHA-256' : null,
      previousDigestSignature: prev ? prev.signature : null,
      logFiles: logs,
      ...spec.patch,
    };
    const bytes = serializeDigest(d);
    const hash = sha256Hex(bytes);
    const signature = signDigest(signer.privateKey, signingString({ digestEndTime: d.digestEndTime, bucket: BUCKET, key, digestSha256Hex: hash, previousSignature: d.previousDigestSignature }));
    await store.putObject(BUCKET, key, gzipSync(bytes), { metadata: { [DIGEST_METADATA.signature]: signature, [DIGEST_METADATA.algorithm]: 'SHA256withRSA' } });
    written.push({ key, hash, signature });
    digests.push({ key, startMs, endMs, logs: logs.map((l) => l.s3Object), signature });
  }
  return { root, digests, logBody };
}

interface Run {
  events: ValidationEvent[];
  summary: ValidationSummary;
  /** Problems as `<kind> <key-tail> <reason>[ (extended)]`, in report order. */
  problems: string[];
}

async function run(chain: Chain, opts: Partial<ValidateOptions> = {}): Promise<Run> {
  const events: ValidationEvent[] = [];
  const summary = await validateLogs({
    trailArn: ARN, startMs: T0, endMs: T0 + 4 * HOUR, bucket: BUCKET,
    reader: new FsBucketReader(chain.root),
    keys: { listPublicKeys: async () => [{ fingerprint: KEY.fingerprint, value: KEY.der }] },
    ...opts,
  }, (e) => events.push(e));
  const problems = events.flatMap((e) => {
    if (e.kind === 'gap') return [`gap ${digestTime(e.fromMs)} ${digestTime(e.toMs)}`];
    if (e.valid) return [];
    return [`${e.kind} ${e.key.split('/').at(-1)} ${e.reason}${e.extended ? ' (extended)' : ''}`];
  });
  return { events, summary, problems };
}

const tail = (key: string) => key.split('/').at(-1)!;
const path = (c: Chain, key: string) => join(c.root, BUCKET, key);

function cleanup(c: Chain): void {
  rmSync(c.root, { recursive: true, force: true });
}

test('an untouched chain: every digest and log file valid, newest first, logs after their digest', async () => {
  const c = await buildChain();
  try {
    const r = await run(c);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(r.events.map((e) => (e.kind === 'gap' ? 'gap' : `${e.kind} ${tail(e.key)}`)), [3, 2, 1, 0].flatMap((i) => [
      `digest ${tail(c.digests[i]!.key)}`, ...c.digests[i]!.logs.map((l) => `log ${tail(l)}`),
    ]));
    assert.deepEqual(r.summary, {
      validDigests: 4, invalidDigests: 0, validBackfillDigests: 0, invalidBackfillDigests: 0, validLogs: 8, invalidLogs: 0,
      foundStartMs: T0, foundEndMs: T0 + 4 * HOUR,
    });
  } finally {
    cleanup(c);
  }
});

test('the range narrows the walk: digests ending from the start to end + 1 h, found times cut to the range', async () => {
  const c = await buildChain();
  try {
    const r = await run(c, { startMs: T0 + HOUR + 30 * 60_000, endMs: T0 + 2 * HOUR });
    assert.deepEqual(r.problems, []);
    // Listed: digests ending 02:00 and 03:00 (end + 1 h); the walk stops after the one starting before 01:30.
    assert.deepEqual(r.events.filter((e) => e.kind === 'digest').map((e) => tail(e.key)), [2, 1].map((i) => tail(c.digests[i]!.key)));
    assert.equal(r.summary.foundStartMs, T0 + HOUR + 30 * 60_000);
    assert.equal(r.summary.foundEndMs, T0 + 2 * HOUR);
  } finally {
    cleanup(c);
  }
});

test('a modified log file: hash value does not match', async () => {
  const c = await buildChain();
  try {
    writeFileSync(path(c, c.digests[1]!.logs[0]!), gzipSync(Buffer.from('{"Records":[]}')));
    const r = await run(c);
    assert.deepEqual(r.problems, [`log ${tail(c.digests[1]!.logs[0]!)} hash value doesn't match`]);
    assert.equal(r.summary.invalidLogs, 1);
    assert.equal(r.summary.validLogs, 7);
  } finally {
    cleanup(c);
  }
});

test('a log file that is not gzip: invalid format; one cut short: hash value does not match', async () => {
  const c = await buildChain();
  try {
    writeFileSync(path(c, c.digests[1]!.logs[0]!), 'not gzip');
    const gz = gzipSync(c.logBody(140));
    writeFileSync(path(c, c.digests[1]!.logs[1]!), gz.subarray(0, gz.length - 20));
    const r = await run(c);
    assert.deepEqual(r.problems, [
      `log ${tail(c.digests[1]!.logs[0]!)} invalid format`,
      `log ${tail(c.digests[1]!.logs[1]!)} hash value doesn't match`,
    ]);
  } finally {
    cleanup(c);
  }
});

test('bytes appended after the gzip member count (the AWS CLI hashes the first member only)', async () => {
  const c = await buildChain();
  try {
    const p = path(c, c.digests[1]!.logs[0]!);
    writeFileSync(p, Buffer.concat([readFileSync(p), gzipSync(Buffer.from('{"Records":[{"eventID":"forged"}]}'))]));
    const r = await run(c);
    assert.deepEqual(r.problems, [`log ${tail(c.digests[1]!.logs[0]!)} hash value doesn't match`]);
  } finally {
    cleanup(c);
  }
});

test('a deleted log file: not found', async () => {
  const c = await buildChain();
  try {
    unlinkSync(path(c, c.digests[2]!.logs[1]!));
    const r = await run(c);
    assert.deepEqual(r.problems, [`log ${tail(c.digests[2]!.logs[1]!)} not found`]);
  } finally {
    cleanup(c);
  }
});

test('an added log file no digest lists: reported by the extended checks only', async () => {
  const c = await buildChain();
  try {
    const added = logKey(T0 + 2 * HOUR + 15 * 60_000, 'forged');
    mkdirSync(join(c.root, BUCKET, added, '..'), { recursive: true });
    writeFileSync(path(c, added), gzipSync(Buffer.from('{"Records":[]}')));
    // Not judged: a file the last digest's window cannot have listed yet (after 04:00 - grace).
    const late = logKey(T0 + 4 * HOUR - 5 * 60_000, 'late');
    writeFileSync(path(c, late), gzipSync(Buffer.from('{"Records":[]}')));
    const r = await run(c);
    assert.deepEqual(r.problems, [`log ${tail(added)} not listed in any digest file (extended)`]);
    assert.equal(r.summary.invalidLogs, 1);
    const aws = await run(c, { extended: false });
    assert.deepEqual(aws.problems, []);
  } finally {
    cleanup(c);
  }
});

test('a modified digest: signature verification failed, its log files are not checked, the walk goes on', async () => {
  const c = await buildChain();
  try {
    const p = path(c, c.digests[1]!.key);
    const { gunzipSync } = await import('node:zlib');
    const doc = JSON.parse(gunzipSync(readFileSync(p)).toString()) as DigestFile;
    doc.logFiles = doc.logFiles.slice(1);
    writeFileSync(p, gzipSync(Buffer.from(JSON.stringify(doc))));
    const r = await run(c);
    assert.deepEqual(r.problems, [`digest ${tail(c.digests[1]!.key)} signature verification failed`]);
    assert.equal(r.summary.validDigests, 3);
    assert.equal(r.summary.invalidDigests, 1);
    assert.equal(r.summary.validLogs, 6);
  } finally {
    cleanup(c);
  }
});

test('a digest that is not gzip JSON: invalid format; one without its signature metadata: signature verification failed', async () => {
  const c = await buildChain();
  try {
    writeFileSync(path(c, c.digests[1]!.key), 'garbage');
    unlinkSync(`${path(c, c.digests[2]!.key)}.meta.json`);
    const r = await run(c);
    assert.deepEqual(r.problems, [
      `digest ${tail(c.digests[2]!.key)} signature verification failed`,
      `digest ${tail(c.digests[1]!.key)} invalid format`,
    ]);
  } finally {
    cleanup(c);
  }
});

test('a digest copied to another key: has been moved from its original location', async () => {
  const c = await buildChain();
  try {
    const from = path(c, c.digests[1]!.key);
    const to = path(c, c.digests[1]!.key.replace('T020000Z', 'T020001Z'));
    writeFileSync(to, readFileSync(from));
    writeFileSync(`${to}.meta.json`, readFileSync(`${from}.meta.json`));
    const r = await run(c);
    assert.deepEqual(r.problems, [`digest ${tail(to)} has been moved from its original location (extended)`]);
  } finally {
    cleanup(c);
  }
});

test('a deleted digest: not found; the walk continues with the next older digest', async () => {
  const c = await buildChain();
  try {
    unlinkSync(path(c, c.digests[1]!.key));
    const r = await run(c);
    assert.deepEqual(r.problems, [`digest ${tail(c.digests[1]!.key)} not found`]);
    assert.equal(r.summary.validDigests, 3);
    assert.equal(r.summary.validLogs, 6);
  } finally {
    cleanup(c);
  }
});

test('two consecutive deleted digests: the AWS CLI reports the newer only; the extended checks name both', async () => {
  const c = await buildChain();
  try {
    unlinkSync(path(c, c.digests[1]!.key));
    unlinkSync(path(c, c.digests[2]!.key));
    const aws = await run(c, { extended: false });
    assert.deepEqual(aws.problems, [`digest ${tail(c.digests[2]!.key)} not found`]);
    const r = await run(c);
    assert.deepEqual(r.problems, [
      `digest ${tail(c.digests[2]!.key)} not found`,
      `digest ${tail(c.digests[1]!.key)} not found (extended)`,
    ]);
    assert.equal(r.summary.invalidDigests, 2);
    assert.equal(r.summary.validDigests, 2);
  } finally {
    cleanup(c);
  }
});

test('three consecutive deleted digests from the second newest: all named', async () => {
  const c = await buildChain([{}, {}, {}, {}, {}]);
  try {
    for (const i of [1, 2, 3]) unlinkSync(path(c, c.digests[i]!.key));
    const r = await run(c, { endMs: T0 + 5 * HOUR });
    assert.deepEqual(r.problems, [3, 2, 1].map((i) => `digest ${tail(c.digests[i]!.key)} not found${i === 3 ? '' : ' (extended)'}`));
  } finally {
    cleanup(c);
  }
});

test('a digest deleted at the end of the range: the AWS CLI sees nothing; the next digest names it', async () => {
  const c = await buildChain();
  try {
    unlinkSync(path(c, c.digests[2]!.key));
    // The range ends at 01:30: the CLI lists digests ending up to 02:30... and 03:00's is gone.
    const range = { endMs: T0 + 2 * HOUR };
    const aws = await run(c, { ...range, extended: false });
    assert.deepEqual(aws.problems, []);
    assert.equal(aws.summary.validDigests, 2);
    const r = await run(c, range);
    assert.deepEqual(r.problems, [`digest ${tail(c.digests[2]!.key)} not found (extended)`]);
  } finally {
    cleanup(c);
  }
});

test('the newest digests deleted: GetTrailStatus\' latest digest delivery says they existed', async () => {
  const c = await buildChain();
  try {
    unlinkSync(path(c, c.digests[3]!.key));
    unlinkSync(path(c, c.digests[2]!.key));
    const aws = await run(c, { extended: false });
    assert.deepEqual(aws.problems, []);
    // Without a hint nothing can tell a deleted newest digest from one not written yet.
    assert.deepEqual((await run(c)).problems, []);
    const r = await run(c, { latestDigestDeliveryMs: T0 + 4 * HOUR + 15 * 60_000 });
    assert.deepEqual(r.problems, [3, 2].map((i) => `digest ${tail(c.digests[i]!.key)} not found (extended)`));
    // A delivery that may still be the newest found digest's says nothing.
    assert.deepEqual((await run(c, { latestDigestDeliveryMs: T0 + 2 * HOUR + 60_000 })).problems, []);
    // A stopped trail: its final digest (ending at or after the stop) was delivered, so it is missing.
    const stopped = await run(c, { stopLoggingMs: T0 + 3 * HOUR + 30 * 60_000, latestDigestDeliveryMs: T0 + 4 * HOUR + 5000 });
    assert.deepEqual(stopped.problems, [3, 2].map((i) => `digest ${tail(c.digests[i]!.key)} not found (extended)`));
  } finally {
    cleanup(c);
  }
});

test('a broken chain that skips a digest: the AWS CLI follows the link; the skipped digest is reported', async () => {
  const c = await buildChain([{}, {}, { prev: 0 }, {}]);
  try {
    const aws = await run(c, { extended: false });
    assert.deepEqual(aws.problems, []);
    assert.equal(aws.summary.validDigests, 3);
    const r = await run(c);
    assert.deepEqual(r.problems, [`digest ${tail(c.digests[1]!.key)} not in the digest chain (extended)`]);
  } finally {
    cleanup(c);
  }
});

test('a chain link whose recorded hash or signature is not the previous digest\'s', async () => {
  const c = await buildChain([{}, {}, { patch: { previousDigestHashValue: 'f'.repeat(64) } }, {}]);
  try {
    assert.deepEqual((await run(c, { extended: false })).problems, []);
    const r = await run(c);
    assert.deepEqual(r.problems, [`digest ${tail(c.digests[1]!.key)} hash value doesn't match the next digest file (extended)`]);
  } finally {
    cleanup(c);
  }
  const c2 = await buildChain([{}, {}, { patch: { previousDigestSignature: 'ab'.repeat(256) } }, {}]);
  try {
    const r = await run(c2);
    assert.deepEqual(r.problems, [`digest ${tail(c2.digests[1]!.key)} signature doesn't match the next digest file (extended)`]);
  } finally {
    cleanup(c2);
  }
});

test('a starting digest in the middle: a gap, not an error', async () => {
  const c = await buildChain([{}, {}, { prev: null }, {}]);
  try {
    const r = await run(c);
    assert.deepEqual(r.problems, [`gap ${digestTime(T0 + 2 * HOUR)} ${digestTime(T0 + 2 * HOUR)}`]);
    assert.equal(r.summary.validDigests, 4);
    assert.equal(r.summary.invalidDigests, 0);
  } finally {
    cleanup(c);
  }
});

test('a wrong signature: signature verification failed', async () => {
  // Signed with another key but naming the listed key's fingerprint.
  const c = await buildChain([{}, { key: { ...OTHER_KEY, fingerprint: KEY.fingerprint } }, {}, {}]);
  try {
    const r = await run(c);
    assert.deepEqual(r.problems, [`digest ${tail(c.digests[1]!.key)} signature verification failed`]);
  } finally {
    cleanup(c);
  }
});

test('an unknown fingerprint: public key not found; a key that is not PKCS#1: unable to load', async () => {
  const c = await buildChain([{}, { key: OTHER_KEY }, {}, {}]);
  try {
    const r = await run(c);
    assert.deepEqual(r.problems, [`digest ${tail(c.digests[1]!.key)} public key not found in region ${REGION} for fingerprint ${OTHER_KEY.fingerprint}`]);
    const spki = await run(c, {
      keys: { listPublicKeys: async () => [{ fingerprint: KEY.fingerprint, value: KEY.der }, { fingerprint: OTHER_KEY.fingerprint, value: Buffer.from('not a key') }] },
    });
    assert.deepEqual(spki.problems, [`digest ${tail(c.digests[1]!.key)} Unable to load PKCS #1 key with fingerprint ${OTHER_KEY.fingerprint}`]);
  } finally {
    cleanup(c);
  }
});

test('an added digest file in the range: reported with what is wrong with it', async () => {
  const c = await buildChain();
  try {
    const forged = c.digests[1]!.key.replace('T020000Z', 'T023000Z');
    writeFileSync(path(c, forged), gzipSync(Buffer.from('{}')));
    writeFileSync(`${path(c, forged)}.meta.json`, JSON.stringify({ signature: 'ab', 'signature-algorithm': 'SHA256withRSA' }));
    assert.deepEqual((await run(c, { extended: false })).problems, []);
    const r = await run(c);
    assert.deepEqual(r.problems, [`digest ${tail(forged)} invalid format (extended)`]);
  } finally {
    cleanup(c);
  }
});

test('no public keys: fatal; no digests in the range: nothing found, no error', async () => {
  const c = await buildChain();
  try {
    await assert.rejects(run(c, { keys: { listPublicKeys: async () => [] } }), /^ValidationFatalError: No public keys found between 2026-01-01T00:00:00Z and 2026-01-01T06:00:00Z$/);
    const r = await run(c, { startMs: T0 + 10 * HOUR, endMs: T0 + 11 * HOUR });
    assert.deepEqual(r.events, []);
    assert.equal(r.summary.foundStartMs, undefined);
  } finally {
    cleanup(c);
  }
});

test('a missing bucket is fatal with the AWS CLI\'s message', async () => {
  const c = await buildChain();
  try {
    await assert.rejects(run(c, { bucket: 'no-such-bucket' }), /An error occurred \(NoSuchBucket\) when calling the ListObjects operation: The specified bucket does not exist/);
  } finally {
    cleanup(c);
  }
});

test('the filesystem reader lists in S3 order from startAfter and skips sidecar files', async () => {
  const root = mkdtempSync(join(tmpdir(), 'ot-reader-'));
  try {
    const store = new FsObjectStore(root);
    mkdirSync(join(root, BUCKET));
    for (const k of ['a/b/c', 'a/b-c', 'a/b/d', 'a/bc', 'b', 'a/b/c.x']) await store.putObject(BUCKET, k, Buffer.from(k), { metadata: { m: '1' } });
    const reader = new FsBucketReader(root);
    const list = async (prefix: string, after?: string) => {
      const out: string[] = [];
      for await (const k of reader.listKeys(BUCKET, prefix, after)) out.push(k);
      return out;
    };
    assert.deepEqual(await list(''), ['a/b-c', 'a/b/c', 'a/b/c.x', 'a/b/d', 'a/bc', 'b']);
    assert.deepEqual(await list('a/b'), ['a/b-c', 'a/b/c', 'a/b/c.x', 'a/b/d', 'a/bc']);
    assert.deepEqual(await list('a/b/'), ['a/b/c', 'a/b/c.x', 'a/b/d']);
    assert.deepEqual(await list('a/', 'a/b/c'), ['a/b/c.x', 'a/b/d', 'a/bc']);
    assert.deepEqual(await list('', 'a/zzz'), ['b']);
    const obj = await reader.getObject(BUCKET, 'a/b/c');
    assert.deepEqual(obj.metadata, { m: '1' });
    obj.body.destroy();
    await assert.rejects(reader.getObject(BUCKET, 'a/nope'), { code: 'NoSuchKey' });
    await assert.rejects(reader.getObject(BUCKET, 'a/b'), { code: 'NoSuchKey' });
    assert.ok(existsSync(join(root, BUCKET, 'a/b/c.meta.json')));
    await assert.rejects(reader.getObject(BUCKET, 'a/b/c.meta.json'), { code: 'NoSuchKey' });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
