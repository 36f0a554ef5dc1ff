import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { generateKeyPairSync } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { gunzipSync, gzipSync } from 'node:zlib';
import {
  DIGEST_METADATA,
  digestFolderPrefix,
  digestKey,
  digestTime,
  loadPublicKeyDer,
  parseDigest,
  parseDigestKey,
  serializeDigest,
  sha256Hex,
  signDigest,
  signingString,
  verifyDigestSignature,
  type DigestFile,
} from './digest.ts';
import { fingerprintOf, publicKeyDerOf } from './signing-keys.ts';

const SAMPLE_LINE = readFileSync(resolve(import.meta.dirname, '../../test/fixtures/corpus/awsdocs-cloudtrail-digest.jsonl'), 'utf8').trim();

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const PUBLIC_DER = publicKeyDerOf(publicKey);

test('the AWS documentation sample digest parses and re-serialises byte for byte', () => {
  const d = parseDigest(SAMPLE_LINE);
  assert.ok(d);
  assert.equal(d.digestPublicKeyFingerprint, '31e8b5433410dfb61a9dc45cc65b22ff');
  assert.equal(d.digestSignatureAlgorithm, 'SHA256withRSA');
  assert.equal(d.newestEventTime, null);
  assert.deepEqual(d.logFiles, []);
  // Field order and compact form are CloudTrail's: re-serialising gives the same bytes.
  assert.equal(serializeDigest(d).toString('utf8'), SAMPLE_LINE);
  assert.deepEqual(Object.keys(JSON.parse(SAMPLE_LINE)), Object.keys(JSON.parse(serializeDigest(d).toString())));
  // The sample's object key is one we name the same way.
  const info = parseDigestKey(d.digestS3Object);
  assert.ok(info);
  assert.equal(digestKey(info), d.digestS3Object);
  assert.equal(digestTime(info.endMs), d.digestEndTime);
});

test('a digest with log files keeps field order, also for logFiles entries given in another order', () => {
  const d: DigestFile = {
    logFiles: [{ oldestEventTime: '2015-08-17T14:42:27Z', newestEventTime: '2015-08-17T14:52:27Z', hashAlgorithm: 'SHA-256', hashValue: 'a'.repeat(64), s3Object: 'AWSLogs/x.json.gz', s3Bucket: 'b' }],
    previousDigestSignature: null,
    previousDigestHashAlgorithm: null,
    previousDigestHashValue: null,
    previousDigestS3Object: null,
    previousDigestS3Bucket: null,
    oldestEventTime: '2015-08-17T14:42:27Z',
    newestEventTime: '2015-08-17T14:52:27Z',
    digestSignatureAlgorithm: 'SHA256withRSA',
    digestPublicKeyFingerprint: 'f'.repeat(32),
    digestS3Object: 'k',
    digestS3Bucket: 'b',
    digestEndTime: '2015-08-17T15:01:31Z',
    digestStartTime: '2015-08-17T14:01:31Z',
    awsAccountId: '111122223333',
  };
  const text = serializeDigest(d).toString();
  assert.equal(
    text,
    '{"awsAccountId":"111122223333","digestStartTime":"2015-08-17T14:01:31Z","digestEndTime":"2015-08-17T15:01:31Z","digestS3Bucket":"b","digestS3Object":"k",' +
      '"digestPublicKeyFingerprint":"ffffffffffffffffffffffffffffffff","digestSignatureAlgorithm":"SHA256withRSA","newestEventTime":"2015-08-17T14:52:27Z","oldestEventTime":"2015-08-17T14:42:27Z",' +
      '"previousDigestS3Bucket":null,"previousDigestS3Object":null,"previousDigestHashValue":null,"previousDigestHashAlgorithm":null,"previousDigestSignature":null,' +
      `"logFiles":[{"s3Bucket":"b","s3Object":"AWSLogs/x.json.gz","hashValue":"${'a'.repeat(64)}","hashAlgorithm":"SHA-256","newestEventTime":"2015-08-17T14:52:27Z","oldestEventTime":"2015-08-17T14:42:27Z"}]}`,
  );
  assert.deepEqual(parseDigest(text), { ...d, logFiles: d.logFiles });
});

test('parseDigest refuses documents without the fields the AWS CLI needs', () => {
  const o = JSON.parse(SAMPLE_LINE) as Record<string, unknown>;
  assert.equal(parseDigest('not json'), undefined);
  assert.equal(parseDigest('[]'), undefined);
  const { digestPublicKeyFingerprint: _fp, ...noFp } = o;
  assert.equal(parseDigest(noFp), undefined);
  assert.equal(parseDigest({ ...noFp, publicKeyFingerprint: 'x' }), undefined);
  assert.equal(parseDigest({ ...o, logFiles: [{ s3Bucket: 'b' }] }), undefined);
  assert.ok(parseDigest(Buffer.from(SAMPLE_LINE)));
});

test('signing string of a starting digest ends with the literal null, no trailing newline', () => {
  const s = signingString({ digestEndTime: '2015-08-20T18:01:31Z', bucket: 'example-bucket-name', key: 'AWSLogs/111122223333/CloudTrail-Digest/x.json.gz', digestSha256Hex: 'ab'.repeat(32), previousSignature: null });
  assert.equal(s, `2015-08-20T18:01:31Z\nexample-bucket-name/AWSLogs/111122223333/CloudTrail-Digest/x.json.gz\n${'ab'.repeat(32)}\nnull`);
});

test('signing string of a chained digest carries the previous signature', () => {
  const d = parseDigest(SAMPLE_LINE)!;
  const bytes = serializeDigest(d);
  const s = signingString({ digestEndTime: d.digestEndTime, bucket: d.digestS3Bucket, key: d.digestS3Object, digestSha256Hex: sha256Hex(bytes), previousSignature: d.previousDigestSignature });
  assert.equal(
    s,
    [
      '2015-08-20T18:01:31Z',
      'example-bucket-name/AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/20/111122223333_CloudTrail-Digest_us-east-2_example-trail-name_us-east-2_20150820T180131Z.json.gz',
      sha256Hex(SAMPLE_LINE),
      d.previousDigestSignature,
    ].join('\n'),
  );
  assert.ok(!s.endsWith('\n'));
  assert.equal(s.split('\n').length, 4);
});

test('sha256Hex is lowercase hex of the bytes', () => {
  assert.equal(sha256Hex(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  assert.equal(sha256Hex(Buffer.from('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
});

test('sign and verify round trip; any change to string, signature or key fails', () => {
  const s = signingString({ digestEndTime: '2024-01-01T01:00:00Z', bucket: 'b', key: 'k', digestSha256Hex: sha256Hex('x'), previousSignature: null });
  const sig = signDigest(privateKey, s);
  assert.match(sig, /^[0-9a-f]{512}$/);
  assert.equal(signDigest(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, s), sig, 'PKCS#1 v1.5 is deterministic; PEM works too');
  assert.equal(verifyDigestSignature(PUBLIC_DER, s, sig), true);
  assert.equal(verifyDigestSignature(PUBLIC_DER, s.replace('b/k', 'b/K'), sig), false);
  const flipped = Buffer.from(sig, 'hex');
  flipped[10]! ^= 1;
  assert.equal(verifyDigestSignature(PUBLIC_DER, s, flipped.toString('hex')), false);
  assert.equal(verifyDigestSignature(PUBLIC_DER, s, 'zz'), false);
  assert.equal(verifyDigestSignature(Buffer.from('junk'), s, sig), false);
  const other = publicKeyDerOf(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey);
  assert.equal(verifyDigestSignature(other, s, sig), false);
});

test('a modified byte of the digest changes its hash and fails verification', () => {
  const d = parseDigest(SAMPLE_LINE)!;
  const bytes = serializeDigest(d);
  const sign1 = (b: Buffer) => signingString({ digestEndTime: d.digestEndTime, bucket: d.digestS3Bucket, key: d.digestS3Object, digestSha256Hex: sha256Hex(b), previousSignature: d.previousDigestSignature });
  const sig = signDigest(privateKey, sign1(bytes));
  assert.equal(verifyDigestSignature(PUBLIC_DER, sign1(bytes), sig), true);
  const tampered = Buffer.from(bytes);
  tampered[tampered.indexOf('example-trail')]! ^= 0x20;
  assert.equal(verifyDigestSignature(PUBLIC_DER, sign1(tampered), sig), false);
});

test('digest key: seconds in the name, folders from the end date (UTC)', () => {
  const endMs = Date.UTC(2015, 7, 20, 18, 1, 31);
  assert.equal(
    digestKey({ accountId: '111122223333', region: 'us-east-2', trailName: 'example-trail-name', homeRegion: 'us-east-2', endMs }),
    'AWSLogs/111122223333/CloudTrail-Digest/us-east-2/2015/08/20/111122223333_CloudTrail-Digest_us-east-2_example-trail-name_us-east-2_20150820T180131Z.json.gz',
  );
  // Prefix and organization; covered Region differs from the home Region; a digest ending at midnight.
  const midnight = Date.UTC(2024, 0, 1, 0, 0, 0);
  const k = digestKey({ prefix: 'my/prefix', organizationId: 'o-exampleorgid', accountId: '444455556666', region: 'eu-west-1', trailName: 'org.trail_1', homeRegion: 'us-east-1', endMs: midnight + 999 });
  assert.equal(k, 'my/prefix/AWSLogs/o-exampleorgid/444455556666/CloudTrail-Digest/eu-west-1/2024/01/01/444455556666_CloudTrail-Digest_eu-west-1_org.trail_1_us-east-1_20240101T000000Z.json.gz');
  assert.deepEqual(parseDigestKey(k), { prefix: 'my/prefix', organizationId: 'o-exampleorgid', accountId: '444455556666', region: 'eu-west-1', trailName: 'org.trail_1', homeRegion: 'us-east-1', endMs: midnight, backfill: false });
  assert.ok(k.startsWith(digestFolderPrefix({ prefix: 'my/prefix', organizationId: 'o-exampleorgid', accountId: '444455556666', region: 'eu-west-1' })));
  // The AWS CLI cuts the end time at key[-24:-8].
  assert.equal(k.slice(-24, -8), '20240101T000000Z');
});

test('parseDigestKey: backfill, trail names with underscores, and non-digest keys', () => {
  const base = 'AWSLogs/111122223333/CloudTrail-Digest/us-east-1/2024/03/05/111122223333_CloudTrail-Digest_us-east-1_my_trail_us-east-1_20240305T120000Z';
  assert.deepEqual(parseDigestKey(`${base}_backfill.json.gz`)?.backfill, true);
  assert.equal(parseDigestKey(`${base}.json.gz`)?.trailName, 'my_trail');
  assert.equal(parseDigestKey(`${base}.json`), undefined);
  assert.equal(parseDigestKey('AWSLogs/111122223333/CloudTrail/us-east-1/2024/03/05/111122223333_CloudTrail_us-east-1_20240305T1200Z_Mu0KsOhtH1ar15ZZ.json.gz'), undefined);
  // Folder date must be the name's date; the time must exist.
  assert.equal(parseDigestKey(base.replace('/05/', '/06/') + '.json.gz'), undefined);
  assert.equal(parseDigestKey(base.replace('T120000Z', 'T126000Z') + '.json.gz'), undefined);
  // Account in the name must be the folder's account.
  assert.equal(parseDigestKey(base.replace('/111122223333_', '/999988887777_') + '.json.gz'), undefined);
});

test('digestTime truncates to whole seconds, UTC', () => {
  assert.equal(digestTime(Date.UTC(2015, 7, 20, 18, 1, 31, 999)), '2015-08-20T18:01:31Z');
});

test('S3 metadata names are the ones the AWS CLI reads', () => {
  assert.deepEqual(DIGEST_METADATA, { signature: 'signature', algorithm: 'signature-algorithm' });
});

test('loadPublicKeyDer: PKCS#1 only (the AWS CLI refuses SPKI), and a loaded key verifies', () => {
  const key = loadPublicKeyDer(PUBLIC_DER);
  assert.ok(key);
  assert.equal(loadPublicKeyDer(publicKey.export({ type: 'spki', format: 'der' }) as Buffer), undefined);
  assert.equal(loadPublicKeyDer(Buffer.from('x')), undefined);
  assert.equal(verifyDigestSignature(key, 'abc', signDigest(privateKey, 'abc')), true);
});

/** A starting digest and one chained to it, as the digest job makes them. */
function chain(): { key: string; gz: string; signature: string }[] {
  const out: { key: string; gz: string; signature: string }[] = [];
  let prev: { key: string; hash: string; signature: string } | undefined;
  for (const endMs of [Date.UTC(2024, 4, 1, 10), Date.UTC(2024, 4, 1, 11)]) {
    const key = digestKey({ prefix: 'pre', accountId: '111122223333', region: 'us-west-2', trailName: 't1', homeRegion: 'us-east-1', endMs });
    const d: DigestFile = {
      awsAccountId: '111122223333', digestStartTime: digestTime(endMs - 3_600_000), digestEndTime: digestTime(endMs), digestS3Bucket: 'bkt', digestS3Object: key,
      digestPublicKeyFingerprint: fingerprintOf(PUBLIC_DER), digestSignatureAlgorithm: 'SHA256withRSA', newestEventTime: digestTime(endMs - 60_000), oldestEventTime: digestTime(endMs - 7_200_000),
      previousDigestS3Bucket: prev ? 'bkt' : null, previousDigestS3Object: prev?.key ?? null, previousDigestHashValue: prev?.hash ?? null,
      previousDigestHashAlgorithm: prev ? 'SHA-256' : null, previousDigestSignature: prev?.signature ?? null,
      logFiles: [{ s3Bucket: 'bkt', s3Object: 'pre/AWSLogs/111122223333/CloudTrail/us-west-2/2024/05/01/x.json.gz', hashValue: sha256Hex('{"Records":[]}'), hashAlgorithm: 'SHA-256', newestEventTime: digestTime(endMs - 60_000), oldestEventTime: digestTime(endMs - 7_200_000) }],
    };
    const bytes = serializeDigest(d);
    const hash = sha256Hex(bytes);
    const signature = signDigest(privateKey, signingString({ digestEndTime: d.digestEndTime, bucket: 'bkt', key, digestSha256Hex: hash, previousSignature: prev?.signature ?? null }));
    out.push({ key, gz: gzipSync(bytes).toString('base64'), signature });
    prev = { key, hash, signature };
  }
  return out;
}

const CLI_VALIDATOR = `
import sys, json, base64, gzip
from awscli.customizations.cloudtrail.validation import Sha256RSADigestValidator, DigestError
req = json.load(sys.stdin)
for d in req['digests']:
    inflated = gzip.decompress(base64.b64decode(d['gz']))
    data = json.loads(inflated.decode())
    data['_signature'] = d['signature']
    try:
        Sha256RSADigestValidator().validate('bkt', d['key'], req['publicKey'], data, inflated)
        print('valid')
    except DigestError as e:
        print('INVALID', e)
`;

const awscli = spawnSync('python3', ['-c', 'import awscli.customizations.cloudtrail.validation']).status === 0;

test('the AWS CLI validate-logs verifier accepts our digests and rejects a tampered one', { skip: !awscli && 'awscli (Python) not installed' }, () => {
  const digests = chain();
  const tampered = { ...digests[1]!, gz: gzipSync(Buffer.from(gunzipText(digests[1]!.gz).replace('/2024/05/01/x.json.gz', '/2024/05/01/y.json.gz'))).toString('base64') };
  const run = (list: unknown[], pub = PUBLIC_DER.toString('base64')) =>
    execFileSync('python3', ['-c', CLI_VALIDATOR], { input: JSON.stringify({ publicKey: pub, digests: list }) }).toString().trim().split('\n');
  assert.deepEqual(run(digests), ['valid', 'valid']);
  assert.match(run([tampered])[0]!, /^INVALID/);
  assert.match(run(digests.slice(0, 1), (publicKey.export({ type: 'spki', format: 'der' }) as Buffer).toString('base64'))[0]!, /Unable to load PKCS #1 key/);
});

function gunzipText(b64: string): string {
  return gunzipSync(Buffer.from(b64, 'base64')).toString();
}
