/**
 * Express adapter: records each call when its response has been sent ('finish', or 'close' for
 * a call the client abandoned). Works with Express 4 and 5; needs nothing of Express's types.
 */
import { callRecorder, objectOrEmpty } from './http-call.js';

/** @import { IncomingMessage, ServerResponse } from 'node:http' */
/** @import { AdapterOptions, ExpressMiddleware, ExpressRequestLike, HttpCall } from './index.js' */

/** The route template: mount path + route path, or undefined when no route matched. @param {ExpressRequestLike} req */
function routeOf(req) {
  const path = req.route?.path;
  return typeof path === 'string' ? `${req.baseUrl ?? ''}${path}` : undefined;
}

/**
 * @template {IncomingMessage} [Req=ExpressRequestLike]
 * @template {ServerResponse} [Res=ServerResponse]
 * @param {AdapterOptions<Req, Res>} options
 * @returns {ExpressMiddleware<Req, Res>}
 */
export function openTrailExpress(options) {
  const { recorder, capture } = callRecorder(options);
  /** @param {Req} req @param {Res} res @param {(err?: unknown) => void} next */
  const middleware = (req, res, next) => {
    const startTimeMs = Date.now();
    const r = /** @type {ExpressRequestLike} */ (/** @type {unknown} */ (req));
    /** @type {unknown} */
    let responseBody;
    const resAny = /** @type {ServerResponse & { json?: (body: unknown) => unknown }} */ (res);
    const json = resAny.json;
    if (typeof json === 'function') {
      // res.send(object) goes through res.json too.
      resAny.json = function (/** @type {unknown} */ body) {
        responseBody = body;
        return json.call(this, body);
      };
    }
    let recorded = false;
    const done = () => {
      if (recorded) return;
      recorded = true;
      capture(req, res, () => /** @type {HttpCall} */ ({
        framework: 'express',
        method: (r.method ?? 'GET').toUpperCase(),
        route: routeOf(r),
        path: (r.originalUrl ?? r.url ?? '/').split('?')[0] ?? '/',
        params: objectOrEmpty(r.params),
        query: objectOrEmpty(r.query),
        body: r.body,
        status: res.statusCode,
        responseBody,
        error: undefined,
        headers: r.headers,
        sourceIPAddress: r.ip ?? r.socket?.remoteAddress,
        startTimeMs,
      }));
    };
    res.once('finish', done);
    res.once('close', done);
    next();
  };
  return Object.assign(middleware, { recorder });
}
