/**
 * WebhookPoster over fetch: one POST per notification, application/json, bounded by a timeout.
 * Error codes name what happened without the URL (URLs often carry secrets): `WebhookHttp500`,
 * `WebhookTimeout`, `WebhookUnreachable`.
 */
import { DeliveryTargetError, type WebhookPoster, type WebhookRequest } from '../delivery-targets.ts';

export class FetchWebhookPoster implements WebhookPoster {
  async post(url: string, body: string, req: WebhookRequest): Promise<void> {
    let res: Response;
    try {
      res = await fetch(url, {
        method: 'POST',
        headers: { ...(req.headers ?? {}), 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(req.timeoutMs),
        redirect: 'error',
      });
    } catch (e) {
      const timedOut = (e as { name?: string }).name === 'TimeoutError';
      throw new DeliveryTargetError(timedOut ? 'WebhookTimeout' : 'WebhookUnreachable', `webhook POST ${timedOut ? `timed out after ${req.timeoutMs} ms` : 'failed'}: ${(e as Error).message}`, { cause: e });
    }
    // Drain the body so the connection can be reused; its content does not matter.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status > 299) throw new DeliveryTargetError(`WebhookHttp${res.status}`, `webhook answered HTTP ${res.status}`);
  }
}
