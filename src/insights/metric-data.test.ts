/**
 * ListInsightsMetricData's series selection on a real control store (SQLite): ApiErrorRateInsight
 * without an error code sums every error code's series of that one event name, and no series of
 * another event name that starts with it (Put is not PutObject).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteControlStore } from '../stores/sqlite/index.ts';
import { insightsMetricData } from './metric-data.ts';
import { INSIGHTS_SERIES_KIND, seriesKey, type SeriesDoc } from './series.ts';

const A = '111111111111';

test('ApiErrorRateInsight without an error code sums the event name\'s error codes, not those of a longer name', async () => {
  const control = new SqliteControlStore(join(mkdtempSync(join(tmpdir(), 'ot-insights-md-')), 'control.db'));
  try {
    const series = (eventName: string, errorCode: string, counts: [number, number][]): SeriesDoc => ({
      accountId: A, region: 'us-east-1', type: 'ApiErrorRateInsight', eventSource: 's3.amazonaws.com', eventName, errorCode, counts, pending: {}, base: {},
    });
    for (const doc of [series('Put', 'AccessDenied', [[1, 2]]), series('Put', 'NoSuchBucket', [[1, 3]]), series('PutObject', 'AccessDenied', [[1, 100]]), series('PutObjectAcl', 'AccessDenied', [[2, 50]])]) {
      await control.put(INSIGHTS_SERIES_KIND, seriesKey(doc), doc);
    }
    const q = { accountId: A, region: 'us-east-1', type: 'ApiErrorRateInsight' as const, eventSource: 's3.amazonaws.com', startMs: 0, endMs: 10_000, periodMs: 1000, fillWithZeros: false, offset: 0, maxResults: 10 };
    assert.deepEqual(await insightsMetricData(control, { ...q, eventName: 'Put' }, 1000), { timestamps: [1000], values: [5] });
    assert.deepEqual(await insightsMetricData(control, { ...q, eventName: 'PutObject' }, 1000), { timestamps: [1000], values: [100] });
    assert.deepEqual(await insightsMetricData(control, { ...q, eventName: 'PutObject', errorCode: 'AccessDenied' }, 1000), { timestamps: [1000], values: [100] });
  } finally {
    await control.close();
  }
});
