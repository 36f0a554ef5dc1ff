// `opentrail/middleware`: record calls to your own HTTP API as CloudTrail events in OpenTrail.
// Types: index.d.ts. Usage: docs/middleware.md.
export { Recorder, RecorderError } from './recorder.js';
export { HIDDEN, SECRET_KEYS, defaultEventName, redactKeys, redactSecrets } from './http-call.js';
export { openTrailExpress } from './express.js';
export { openTrailFastify } from './fastify.js';
