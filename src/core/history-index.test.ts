import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { historyAttributes, historyIndex, historySummary } from './history-attributes.ts';
import { normalizeRecord } from './normalize.ts';
import type { CloudTrailRecord } from './record.ts';

test('historyIndex gives what historyAttributes and historySummary give, for every corpus record (management, data, Insights, odd resources)', () => {
  const dir = new URL('../../test/fixtures/corpus/', import.meta.url);
  const ctx = { defaultAccountId: '111111111111', defaultRegion: 'us-east-1', nowMs: Date.UTC(2026, 0, 1), ids: { uuid: () => 'generated' } };
  const records: CloudTrailRecord[] = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.jsonl'))) {
    for (const line of readFileSync(new URL(f, dir), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const n = normalizeRecord(JSON.parse(line), ctx);
      if (n.ok) records.push(n.value.record);
    }
  }
  // Resources that are not what they should be: repeated, without a type, a type that is no string.
  const base = records.find((r) => r.eventCategory === 'Management')!;
  records.push({ ...base, resources: [{ type: 'AWS::S3::Bucket', ARN: 'arn:aws:s3:::b' }, { type: 'AWS::S3::Bucket', ARN: 'arn:aws:s3:::b' }, { ARNPrefix: 'arn:aws:s3:::p/' }, { type: 5 as unknown as string }, { type: 'undefined' }] });
  records.push({ ...base, eventType: 'AwsCloudTrailInsight', eventCategory: 'Insight', insightDetails: { eventName: 'X', eventSource: 'y.amazonaws.com' } });
  let inHistory = 0;
  for (const r of records) {
    const index = historyIndex(r);
    const history = historyAttributes(r);
    assert.deepEqual(index?.history, history);
    assert.equal(index?.summary, historySummary(r));
    if (index) inHistory++;
  }
  assert.ok(inHistory > 400 && inHistory < records.length, `${inHistory} of ${records.length} in Event history`);
});
