/**
 * index.d.ts is written by hand: this holds it to the JavaScript. Type-level: each implementation
 * (typed by checkJs from its JSDoc) must be assignable to its public declaration. Runtime: index.js
 * exports exactly the values index.d.ts declares.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as api from './index.js';
import * as recorder from './recorder.js';
import * as httpCall from './http-call.js';
import * as express from './express.js';
import * as fastify from './fastify.js';

const implementations: { [K in keyof typeof api]: (typeof api)[K] } = {
  Recorder: recorder.Recorder,
  RecorderError: recorder.RecorderError,
  HIDDEN: httpCall.HIDDEN,
  SECRET_KEYS: httpCall.SECRET_KEYS,
  defaultEventName: httpCall.defaultEventName,
  redactKeys: httpCall.redactKeys,
  redactSecrets: httpCall.redactSecrets,
  openTrailExpress: express.openTrailExpress,
  openTrailFastify: fastify.openTrailFastify,
};

test('index.js exports exactly what index.d.ts declares, and they are the implementations', async () => {
  const runtime = (await import('./index.js')) as Record<string, unknown>;
  assert.deepEqual(Object.keys(runtime).sort(), Object.keys(implementations).sort());
  for (const [name, impl] of Object.entries(implementations)) assert.equal(runtime[name], impl, name);
});
