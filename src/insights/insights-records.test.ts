/**
 * Insights records: AWS's documented examples (test/fixtures/insights, from the CloudTrail User
 * Guide) parse, normalise as Insights entries of Event history and conform to the layout check;
 * the records the analysis builds conform to the same check with the same fields; the detection
 * statistic on counts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { historyCategory, normalizeRecord, randomIds, type CloudTrailRecord } from '../core/index.ts';
import { count, endThreshold, evaluate, insightRecordProblems, startThreshold, type InsightRecord, type SeriesDoc } from './series.ts';

const FIXTURES = new URL('../../test/fixtures/insights/', import.meta.url);
const docs = readFileSync(new URL('awsdocs-insights.jsonl', FIXTURES), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as CloudTrailRecord);
const details = JSON.parse(readFileSync(new URL('awsdocs-insight-details.json', FIXTURES), 'utf8')) as Record<string, unknown>;
const cfg = { intervalMs: 60_000, baselineWindowMs: 7 * 24 * 3600_000, minimumBaselineMs: 0 };

test("AWS's documented Insights records parse, normalise and conform", () => {
  assert.equal(docs.length, 4);
  for (const r of docs) {
    assert.deepEqual(insightRecordProblems(r), [], r.eventID);
    const n = normalizeRecord(r, { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: Date.now(), ids: randomIds });
    assert.ok(n.ok, JSON.stringify(n));
    if (!n.ok) continue;
    assert.equal(historyCategory(n.value.record), 'insight');
    assert.deepEqual(n.value.record.insightDetails, r.insightDetails, 'insightDetails stored as it came');
    assert.deepEqual(insightRecordProblems(n.value.record), []);
  }
  // The documented insightDetails block with attributions, in a record.
  const withBlock = { ...docs[0]!, insightDetails: details };
  assert.deepEqual(insightRecordProblems(withBlock), []);
  // The check can fail.
  assert.notDeepEqual(insightRecordProblems({ ...docs[0]!, eventCategory: 'Management' }), []);
  assert.notDeepEqual(insightRecordProblems({ ...withBlock, insightDetails: { ...details, insightContext: { statistics: { baseline: {} } } } }), []);
});

function series(): SeriesDoc {
  return { accountId: '111111111111', region: 'us-east-1', type: 'ApiCallRateInsight', eventSource: 'ec2.amazonaws.com', eventName: 'RunInstances', counts: [], pending: {}, base: {} };
}
const call = (arn: string): CloudTrailRecord => ({ eventVersion: '1.08', eventTime: '', awsRegion: 'us-east-1', eventID: '', recipientAccountId: '111111111111', userIdentity: { arn }, userAgent: 'cli' });

test('the records the analysis builds have the documented layout, and the statistic starts and ends as written', () => {
  const s = series();
  const emitted: { i: number; r: InsightRecord }[] = [];
  // 60 steady intervals of 2 calls, then 3 of 20, then 2 again.
  const plan = [...Array(60).fill(2), 20, 20, 20, 2, 2];
  plan.forEach((n: number, i: number) => {
    for (let k = 0; k < n; k++) count(s, i, call(n === 20 ? 'arn:burst' : 'arn:steady'));
    const r = evaluate(s, i, i, true, cfg);
    if (r) emitted.push({ i, r });
  });
  assert.equal(emitted.length, 2);
  const [start, end] = emitted;
  assert.equal(start!.i, 60);
  assert.equal(end!.i, 63);
  for (const { r } of emitted) {
    assert.deepEqual(insightRecordProblems(r), []);
    // Only fields AWS's examples have.
    for (const k of Object.keys(r)) assert.ok(k in docs[0]!, k);
  }
  const st = (start!.r.insightDetails.insightContext as { statistics: Record<string, { average: number } | number> }).statistics;
  assert.deepEqual(st, { baseline: { average: 2 }, insight: { average: 20 }, insightDuration: 1, baselineDuration: 60 });
  const en = (end!.r.insightDetails.insightContext as { statistics: Record<string, unknown> }).statistics;
  assert.deepEqual(en, { baseline: { average: 2 }, insight: { average: 20 }, insightDuration: 3, baselineDuration: 60 });
  assert.equal(start!.r.sharedEventID, end!.r.sharedEventID);
  assert.equal(start!.r.eventTime, '1970-01-01T01:00:00Z');
  // The same insight evaluated again gives the same ids (a re-emission is a duplicate).
  const again = series();
  plan.slice(0, 61).forEach((n: number, i: number) => {
    for (let k = 0; k < n; k++) count(again, i, call('x'));
    const r = evaluate(again, i, i, true, cfg);
    if (r) assert.equal(r.eventID, start!.r.eventID);
  });
});

test('thresholds: double, 3 sd and 2 events above the baseline; the End halfway back', () => {
  assert.equal(startThreshold(0, 0), 2);
  assert.equal(startThreshold(2, 0), 4);
  assert.equal(startThreshold(2, 2), 8);
  assert.equal(startThreshold(1000, 31), 2000);
  assert.equal(endThreshold({ mean: 2, threshold: 8 }), 5);
});
