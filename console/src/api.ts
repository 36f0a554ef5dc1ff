// The console's only way to the server: the same CloudTrail API (AWS JSON 1.1, X-Amz-Target) the
// CLI calls, authenticated by the console session's cookie and its CSRF header instead of SigV4
// (docs/console.md), and the three session calls under /console/api/.
import type { ConsoleSessionView } from '../../src/http/console-types.ts';

/** What sign-in and the session endpoint answer. */
export type Session = ConsoleSessionView;

export class ApiError extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status: number) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

let current: { csrf: string; region: string } | undefined;
let onExpired: () => void = () => undefined;

/** The session calls go with, and what to do when it has ended. */
export function useSession(session: Session | undefined, region: string, expired: () => void): void {
  current = session ? { csrf: session.csrfToken, region } : undefined;
  onExpired = expired;
}

async function answer<T>(res: Response): Promise<T> {
  const text = await res.text();
  let doc: any;
  try {
    doc = text ? JSON.parse(text) : {};
  } catch {
    throw new ApiError('InternalFailure', `The server answered ${res.status} with something that is not JSON.`, res.status);
  }
  if (!res.ok) {
    const code = String(doc.__type ?? res.headers.get('x-amzn-errortype') ?? 'Error').split('#').pop()!;
    throw new ApiError(code, String(doc.message ?? doc.Message ?? `HTTP ${res.status}`), res.status);
  }
  return doc as T;
}

/** One CloudTrail API call, as the signed-in identity, in the selected Region. */
export async function cloudTrail<T = any>(operation: string, input: object = {}, signal?: AbortSignal): Promise<T> {
  if (!current) throw new ApiError('ExpiredTokenException', 'Not signed in.', 401);
  const res = await fetch('/', {
    method: 'POST',
    credentials: 'same-origin',
    signal,
    headers: {
      'content-type': 'application/x-amz-json-1.1',
      'x-amz-target': `CloudTrail_20131101.${operation}`,
      'x-opentrail-csrf': current.csrf,
      'x-opentrail-region': current.region,
    },
    body: JSON.stringify(input),
  });
  try {
    return await answer<T>(res);
  } catch (e) {
    if (e instanceof ApiError && e.code === 'ExpiredTokenException') onExpired();
    throw e;
  }
}

export async function signIn(input: { accessKeyId: string; secretAccessKey: string; sessionToken?: string; region?: string }): Promise<Session> {
  const res = await fetch('/console/api/signin', { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(input) });
  return answer<Session>(res);
}

export async function currentSession(): Promise<Session | undefined> {
  const res = await fetch('/console/api/session', { credentials: 'same-origin' });
  if (res.status === 401) return undefined;
  return answer<Session>(res);
}

export async function signOut(): Promise<void> {
  if (!current) return;
  await fetch('/console/api/signout', { method: 'POST', credentials: 'same-origin', headers: { 'x-opentrail-csrf': current.csrf } });
}

/** The live tail's URL (GET /events/stream: server-sent events), for the selected Region and filter. */
export function streamUrl(filter: { key: string; value: string } | undefined): string {
  const q = new URLSearchParams({ region: current?.region ?? '' });
  if (filter && filter.value) {
    q.set('attributeKey', filter.key);
    q.set('attributeValue', filter.value);
  }
  return `/events/stream?${q}`;
}
