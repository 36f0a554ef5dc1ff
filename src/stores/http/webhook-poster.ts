/**
 * WebhookPoster over fetch: one POST per notification, application/json, bounded by a timeout.
 * Error codes name what happened without the URL (URLs often carry secrets): `WebhookHttp500`,
 * `WebhookTimeout`, `WebhookUnreachable`.
 */
import { DeliveryTargetError, type WebhookPoster, type WebhookRequest } from '../delivery-targets.ts';

export class FetchWebhookPoster implements WebhookPoster {
  async post(url: string, body: string, req: WebhookRequest): Promise<void> {
    // One signal for the whole exchange, answer body included: a target that answers slowly, or
    // drips its answer, is cut at timeoutMs like one that never answers.
    const timeout = AbortSignal.timeout(req.timeoutMs);
    const signal = req.signal ? AbortSignal.any([timeout, req.signal]) : timeout;
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { ...(req.headers ?? {}), 'content-type': 'application/json' },
        body,
        signal,
        redirect: 'error',
      });
    } catch (e) {
      const timedOut = signal.aborted;
      throw new DeliveryTargetError(timedOut ? 'WebhookTimeout' : 'WebhookUnreachable', `webhook POST ${timedOut ? `timed out after ${req.timeoutMs} ms or was cut off` : 'failed'}: ${(e as Error).message}`, { cause: e });
    }
    // Drain the body so the connection can be reused; its content does not matter (a body that
    // never ends is cut by the same signal).
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status > 299) throw new DeliveryTargetError(`WebhookHttp${res.status}`, `webhook answered HTTP ${res.status}`);
  }
}
