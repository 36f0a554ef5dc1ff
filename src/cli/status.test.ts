/**
 * `opentrail status`'s report of a scrape that could not read a store: the missing numbers are
 * said to be missing (not "no trails", not 0 events), and the status is degraded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatStatus, parseMetrics } from './status.ts';

const scrape = (up: string) => parseMetrics(`opentrail_event_store_writable 1
opentrail_data_dir_free_bytes 1024
opentrail_data_dir_size_bytes 4096
${up}
`);

test('a source the scrape could not read is reported as not read, and degrades the status', () => {
  const bad = formatStatus('http://x', scrape('opentrail_metrics_source_up{source="event_log"} 0\nopentrail_metrics_source_up{source="delivery"} 0\nopentrail_metrics_source_up{source="disk"} 1'), 0);
  assert.equal(bad.degraded, true);
  assert.match(bad.text, /DEGRADED: the metrics could not read delivery, event_log/);
  assert.match(bad.text, /^events: not read/m);
  assert.match(bad.text, /^ {2}delivery {2}not read/m);
  assert.doesNotMatch(bad.text, /no trails/);
  const good = formatStatus('http://x', scrape('opentrail_metrics_source_up{source="event_log"} 1\nopentrail_event_log_events 0'), 0);
  assert.equal(good.degraded, false);
  assert.match(good.text, /: healthy\n/);
  assert.match(good.text, /none \(no trails\)/);
});

test('the EventBridge forwarder and rule targets: lag, FAILING while it fails, and refused entries', () => {
  const s = formatStatus('http://x', scrape(`opentrail_consumer_lag_seconds{consumer="realtime",resource="eventbridge"} 12
opentrail_consumer_lag_events{consumer="realtime",resource="eventbridge"} 40
opentrail_consumer_last_failure_timestamp_seconds{consumer="realtime",resource="eventbridge",code="ECONNREFUSED"} 95
opentrail_eventbridge_entries_total{outcome="sent"} 7
opentrail_eventbridge_entries_total{outcome="failed"} 30
opentrail_rule_target_calls_total{target="sqs",outcome="sent"} 3
opentrail_rule_target_calls_total{target="webhook",outcome="WebhookTimeout"} 2`), 100_000);
  assert.equal(s.degraded, true);
  assert.match(s.text, /^ {2}realtime {2}eventbridge: 40 events, 12 s {2}FAILING ECONNREFUSED \(last attempt 5 s ago\)$/m);
  assert.match(s.text, /^ {2}eventbridge entries: failed x30$/m);
  assert.match(s.text, /^ {2}rule targets \(webhook\): WebhookTimeout x2$/m);
  assert.doesNotMatch(s.text, /rule targets \(sqs\)/);
});
