import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { validateInsightSelectors } from './insight-selectors.ts';

describe('validateInsightSelectors: accepted', () => {
  const cases: [string, unknown, unknown][] = [
    ['an empty list (Insights off)', [], []],
    ['call rate, categories defaulting to Management', [{ InsightType: 'ApiCallRateInsight' }],
      [{ InsightType: 'ApiCallRateInsight', EventCategories: ['Management'] }]],
    ['null and empty categories default too', [{ InsightType: 'ApiCallRateInsight', EventCategories: null }, { InsightType: 'ApiErrorRateInsight', EventCategories: [] }],
      [{ InsightType: 'ApiCallRateInsight', EventCategories: ['Management'] }, { InsightType: 'ApiErrorRateInsight', EventCategories: ['Management'] }]],
    ['both types, data events, order kept, unknown members dropped', [
      { InsightType: 'ApiErrorRateInsight', EventCategories: ['Data', 'Management'], Extra: 1 },
      { InsightType: 'ApiCallRateInsight', EventCategories: ['Data'] },
    ], [
      { InsightType: 'ApiErrorRateInsight', EventCategories: ['Data', 'Management'] },
      { InsightType: 'ApiCallRateInsight', EventCategories: ['Data'] },
    ]],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => assert.deepEqual(validateInsightSelectors(input), { ok: true, value: expected }));
  }

  test('event data stores take Management', () => {
    assert.deepEqual(validateInsightSelectors([{ InsightType: 'ApiCallRateInsight', EventCategories: ['Management'] }], 'eventDataStore'),
      { ok: true, value: [{ InsightType: 'ApiCallRateInsight', EventCategories: ['Management'] }] });
  });
});

describe('validateInsightSelectors: refusals', () => {
  const cases: [string, unknown, string, ('trail' | 'eventDataStore')?][] = [
    ['not a list', { InsightType: 'ApiCallRateInsight' }, 'InsightSelectors must be a list of Insights selectors.'],
    ['a selector that is not an object', ['ApiCallRateInsight'], 'Each Insights selector must be a JSON object.'],
    ['no InsightType', [{ EventCategories: ['Management'] }], 'InsightType is required in each Insights selector.'],
    ['an unknown InsightType', [{ InsightType: 'ApiErrorInsight' }],
      'Value ApiErrorInsight for InsightType is invalid. Valid values are: ApiCallRateInsight, ApiErrorRateInsight'],
    ['InsightType not a string', [{ InsightType: 1 }], 'Value 1 for InsightType is invalid. Valid values are: ApiCallRateInsight, ApiErrorRateInsight'],
    ['the same type twice', [{ InsightType: 'ApiCallRateInsight' }, { InsightType: 'ApiCallRateInsight', EventCategories: ['Data'] }],
      'InsightType ApiCallRateInsight is specified more than once.'],
    ['EventCategories not a list', [{ InsightType: 'ApiCallRateInsight', EventCategories: 'Management' }], 'EventCategories must be a list of event categories.'],
    ['an unknown category', [{ InsightType: 'ApiCallRateInsight', EventCategories: ['Insight'] }],
      'Value Insight for EventCategories is invalid. Valid values are: Management, Data'],
    ['lowercase category', [{ InsightType: 'ApiCallRateInsight', EventCategories: ['management'] }],
      'Value management for EventCategories is invalid. Valid values are: Management, Data'],
    ['a category twice', [{ InsightType: 'ApiErrorRateInsight', EventCategories: ['Data', 'Data'] }],
      'Event category Data is specified more than once for InsightType ApiErrorRateInsight.'],
    ['data events on an event data store', [{ InsightType: 'ApiCallRateInsight', EventCategories: ['Data'] }],
      'Insights on event data stores can be enabled for Management events only.', 'eventDataStore'],
  ];
  for (const [name, input, message, target] of cases) {
    test(name, () => assert.deepEqual(validateInsightSelectors(input, target), { ok: false, message }));
  }
});

test('property: valid input normalises idempotently', () => {
  const selector = fc.record({
    InsightType: fc.constantFrom('ApiCallRateInsight', 'ApiErrorRateInsight'),
    EventCategories: fc.option(fc.subarray(['Management', 'Data']), { nil: undefined }),
  }, { requiredKeys: ['InsightType'] });
  const selectors = fc.uniqueArray(selector, { selector: (s) => s.InsightType, maxLength: 2 });
  fc.assert(fc.property(selectors, (input) => {
    const once = validateInsightSelectors(input);
    assert.ok(once.ok);
    assert.equal(once.value.length, input.length);
    for (const s of once.value) assert.ok(s.EventCategories !== undefined && s.EventCategories.length > 0);
    assert.deepEqual(validateInsightSelectors(once.value), once);
  }));
});
