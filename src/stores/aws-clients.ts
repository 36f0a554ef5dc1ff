/**
 * What every AWS SDK driver shares (S3 in `s3/`, SNS and CloudWatch Logs in `aws/`): the endpoint
 * and credentials options, the time limits of a neighbour that may hang, one client per Region, and
 * how a failure is named. No SDK import: each driver passes its own client class.
 */

import { DeliveryTargetError } from './delivery-targets.ts';

/** Where an AWS (or AWS-compatible) service is reached, and with which static credentials. */
export interface AwsClientOptions {
  /** A custom endpoint (moto, LocalStack, MinIO, ...); the SDK's default for the Region otherwise. */
  endpoint?: string;
  region: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** Time limits of an SDK neighbour: each attempt, and how many attempts one call may make. */
export interface TargetLimits {
  /** One HTTP attempt, answer included (the SDK's requestTimeout, made to throw). */
  requestTimeoutMs: number;
  maxAttempts: number;
}

/** Whole-call deadline: every attempt at its limit. */
export const callDeadlineMs = (l: TargetLimits): number => l.requestTimeoutMs * l.maxAttempts;

/**
 * SDK client settings for a neighbour that may hang: connect within 3 s, each attempt within
 * requestTimeoutMs (throwOnRequestTimeout: without it the SDK only logs a warning and waits for
 * ever), at most maxAttempts attempts.
 */
export function boundedClientSettings(l: TargetLimits) {
  return {
    maxAttempts: l.maxAttempts,
    requestHandler: { connectionTimeout: 3000, requestTimeout: l.requestTimeoutMs, throwOnRequestTimeout: true },
  };
}

/** The SDK client config of `opts` in `region`: endpoint, Region and the static credentials when both halves are given (else the SDK's chain). */
export function sdkClientConfig(opts: Omit<AwsClientOptions, 'region'>, region: string) {
  return {
    endpoint: opts.endpoint,
    region,
    credentials: opts.accessKeyId && opts.secretAccessKey ? { accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey } : undefined,
  };
}

/** One SDK client per Region, made on first use; `destroy` closes them all. */
export class RegionalClients<C extends { destroy(): void }> {
  private readonly make: (region: string) => C;
  private readonly clients = new Map<string, C>();

  constructor(make: (region: string) => C) {
    this.make = make;
  }

  get(region: string): C {
    let c = this.clients.get(region);
    if (!c) {
      c = this.make(region);
      this.clients.set(region, c);
    }
    return c;
  }

  destroy(): void {
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }
}

/** The service's error code (`NotFound`, `AuthorizationError`, ...), else the SDK's error name. */
export function awsErrorCode(e: unknown): string {
  const err = e as { Code?: unknown; name?: unknown; code?: unknown };
  if (typeof err.Code === 'string' && err.Code) return err.Code;
  if (typeof err.code === 'string' && /^[A-Za-z][A-Za-z0-9.]*$/.test(err.code)) return err.code;
  return typeof err.name === 'string' && err.name !== 'Error' ? err.name : 'InternalFailure';
}

/** True when `e` is the SDK giving up on time (requestTimeout, connectionTimeout) or an aborted call. */
export function isTimeoutOrAbort(e: unknown, signal?: AbortSignal): boolean {
  const name = (e as { name?: unknown }).name;
  return signal?.aborted === true || name === 'TimeoutError' || name === 'AbortError';
}

/**
 * One call to a target neighbour within its whole-call deadline (and the caller's signal): its
 * result, else a DeliveryTargetError with the service's error code, or `timeoutCode` when time ran
 * out or the caller aborted. `what` names the call in the message (never a URL with secrets).
 */
export async function boundedCall<T>(limits: TargetLimits, callerSignal: AbortSignal | undefined, timeoutCode: string, what: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const deadline = AbortSignal.timeout(callDeadlineMs(limits));
  const signal = callerSignal ? AbortSignal.any([deadline, callerSignal]) : deadline;
  try {
    return await call(signal);
  } catch (e) {
    const code = isTimeoutOrAbort(e, signal) ? timeoutCode : awsErrorCode(e);
    throw new DeliveryTargetError(code, `${what} failed: ${(e as Error).message}`, { cause: e });
  }
}
