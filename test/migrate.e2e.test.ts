/**
 * `opentrail migrate` end to end on a data directory the layout-1 server wrote
 * (test/fixtures/layout1-datadir): the new server refuses it with the way out, the migration
 * converts it, and the server then answers LookupEvents as the layout-1 server did, keeps the seqs,
 * continues above them, and its trail delivers only what it had not delivered yet.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, cpSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { DatabaseSync } from 'node:sqlite';
import { BIN, startServer, tempDir } from './helpers/server.ts';
import { eventLog, filesBelow, ingest, waitFor } from './helpers/delivery.ts';
import { A, B, CONFIG, alice, carol, lookupAll, QUERIES, TRAIL } from './fixtures/layout1-datadir/queries.ts';

const FIXTURE = new URL('./fixtures/layout1-datadir/', import.meta.url).pathname;

interface Expected {
  endTime: string;
  sample: { inHistory: string; dataEvent: string };
  delivered: string[];
  answers: Record<string, unknown[]>;
  log: Record<string, [number, string][]>;
}

function opentrail(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Every log file of the bucket: its key and the eventIDs in it. */
function bucketFiles(root: string): Map<string, string[]> {
  return new Map(filesBelow(root).filter((p) => p.endsWith('.json.gz')).map((p) => [
    relative(root, p),
    (JSON.parse(gunzipSync(readFileSync(p)).toString('utf8')) as { Records: { eventID: string }[] }).Records.map((r) => r.eventID),
  ]));
}

test('a layout-1 data directory is refused with the way to migrate, migrated, and then served as before', async () => {
  const expected = JSON.parse(readFileSync(join(FIXTURE, 'expected.json'), 'utf8')) as Expected;
  const dataDir = tempDir('opentrail-migrate-');
  cpSync(join(FIXTURE, 'data'), dataDir, { recursive: true });
  for (const f of ['next-token.key', 'signing-keys.kek']) chmodSync(join(dataDir, f), 0o600);
  const configFile = join(FIXTURE, 'config.json');
  const layout1 = readFileSync(join(dataDir, 'events.db'));

  // The new server refuses: exit 2, one line naming the command, the file untouched.
  const refused = opentrail(['serve', '--port', '0', '--data-dir', dataDir, '--config', configFile]);
  assert.equal(refused.status, 2, refused.stderr);
  assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`layout-1 .*run \`opentrail migrate --data-dir ${dataDir}\``));
  assert.ok(readFileSync(join(dataDir, 'events.db')).equals(layout1), 'the refused file was changed');

  const highWater = (() => {
    const db = new DatabaseSync(join(dataDir, 'events.db'), { readOnly: true });
    try {
      return (db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number }).seq;
    } finally {
      db.close();
    }
  })();

  const migrated = opentrail(['migrate', '--data-dir', dataDir]);
  assert.equal(migrated.status, 0, migrated.stderr);
  assert.match(migrated.stdout, new RegExp(`is now layout 2: \\d+ events \\(seq high-water ${highWater}\\)`));
  assert.ok(readFileSync(join(dataDir, 'events.layout1.db')).equals(layout1), 'the layout-1 file is kept as it was');
  const again = opentrail(['migrate', '--data-dir', dataDir]);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /already layout 2; nothing to do/);

  const bucket = join(dataDir, 'buckets', TRAIL.bucket);
  const before = bucketFiles(bucket);
  // Everything the layout-1 server had delivered when the answers were recorded (and what it
  // delivered after, until it stopped: the self-audit of those lookups).
  const deliveredBefore = new Set([...before.values()].flat());
  assert.deepEqual(expected.delivered.filter((id) => !deliveredBefore.has(id)), []);

  const server = await startServer(CONFIG, { dataDir });
  try {
    // LookupEvents answers exactly as the layout-1 server did, query by query, page by page.
    const endTime = new Date(expected.endTime);
    for (const q of QUERIES(expected.sample)) {
      const got = await lookupAll(server.url, q.account === A ? alice : carol, q, endTime);
      assert.deepEqual(got, expected.answers[q.name], `LookupEvents ${q.name}`);
    }
    // Same seqs for the same events.
    const maxOld = Math.max(...Object.values(expected.log).flat().map(([seq]) => seq));
    for (const [account, id] of [[A, alice], [B, carol]] as const) {
      const log = (await eventLog(server.url, id)).map((e) => [e.seq, e.record.eventID]);
      assert.deepEqual(log.filter(([seq]) => (seq as number) <= maxOld), expected.log[account], `event log of ${account}`);
    }

    // Ingest continues above the layout-1 high-water mark; duplicates of migrated events are found.
    const fresh = Array.from({ length: 30 }, (_, i) => ({
      eventID: randomUUID(), eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', recipientAccountId: A, awsRegion: 'us-east-1',
      userIdentity: { type: 'IAMUser', userName: `after-${i}` },
    }));
    const res = await ingest(server.url, alice, [...fresh, { eventID: expected.sample.inHistory, recipientAccountId: A, eventSource: 'ec2.amazonaws.com', eventName: 'DescribeInstances' }]);
    assert.equal(res.accepted, fresh.length);
    assert.equal(res.duplicates, 1, 'an event of the layout-1 store is still a duplicate');
    const freshIds = new Set(fresh.map((r) => r.eventID));
    const freshSeqs = (await eventLog(server.url, alice)).filter((e) => freshIds.has(e.record.eventID)).map((e) => e.seq);
    assert.equal(freshSeqs.length, fresh.length);
    assert.ok(freshSeqs.every((s) => s > highWater), `new seqs ${freshSeqs.slice(0, 3)} must be above ${highWater}`);

    // The trail goes on from its cursor: the new events arrive, nothing delivered before comes again.
    await waitFor(() => [...freshIds].every((id) => [...bucketFiles(bucket).values()].flat().includes(id)), 20_000, 'the new events in the bucket');
    await new Promise((r) => setTimeout(r, 1000));
    const after = bucketFiles(bucket);
    for (const [key, ids] of before) assert.deepEqual(after.get(key), ids, `${key} changed`);
    const added = [...after].filter(([key]) => !before.has(key)).flatMap(([, ids]) => ids);
    assert.deepEqual(added.filter((id) => deliveredBefore.has(id)), [], 'events delivered before the migration were delivered again');
    assert.equal(new Set(added).size, added.length, 'an event was delivered twice');
  } finally {
    await server.stop();
  }
});
