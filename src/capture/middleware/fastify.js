/**
 * Fastify adapter: a plugin whose hooks apply to the whole instance (it opts out of
 * encapsulation as fastify-plugin would), recording each call in onResponse.
 */
import { callRecorder, objectOrEmpty } from './http-call.js';

/** @import { FastifyInstance, FastifyRequest } from 'fastify' */
/** @import { OpenTrailFastifyOptions } from './index.js' */

/** @typedef {{ startTimeMs: number, responseBody: unknown, error: Error | undefined }} CallState */

/**
 * @param {FastifyInstance} fastify
 * @param {OpenTrailFastifyOptions} options
 */
async function openTrailFastify(fastify, options) {
  const { recorder, owned, capture } = callRecorder(options);
  /** @type {WeakMap<FastifyRequest, CallState>} */
  const calls = new WeakMap();
  fastify.decorate('openTrailRecorder', recorder);
  fastify.addHook('onRequest', async (request) => {
    calls.set(request, { startTimeMs: Date.now(), responseBody: undefined, error: undefined });
  });
  fastify.addHook('preSerialization', async (request, _reply, payload) => {
    const state = calls.get(request);
    if (state) state.responseBody = payload;
    return payload;
  });
  fastify.addHook('onError', async (request, _reply, error) => {
    const state = calls.get(request);
    if (state) state.error = error;
  });
  fastify.addHook('onResponse', async (request, reply) => {
    const state = calls.get(request) ?? { startTimeMs: Date.now(), responseBody: undefined, error: undefined };
    capture(request, reply, () => ({
      framework: 'fastify',
      method: request.method.toUpperCase(),
      route: request.is404 ? undefined : request.routeOptions.url,
      path: request.url.split('?')[0] ?? '/',
      params: objectOrEmpty(request.params),
      query: objectOrEmpty(request.query),
      body: request.body,
      status: reply.statusCode,
      responseBody: state.responseBody,
      error: state.error,
      headers: request.headers,
      sourceIPAddress: request.ip,
      startTimeMs: state.startTimeMs,
    }));
  });
  if (owned) fastify.addHook('onClose', async () => recorder.close());
}

// What fastify-plugin does: hooks registered here apply to the parent instance and its routes.
Object.assign(openTrailFastify, {
  [Symbol.for('skip-override')]: true,
  [Symbol.for('fastify.display-name')]: 'opentrail',
});

export { openTrailFastify };
