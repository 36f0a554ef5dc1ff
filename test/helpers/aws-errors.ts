/** Assertions on the AWS-shaped errors the SDK raises. */
import assert from 'node:assert/strict';

/** The modelled error a call fails with: name, HTTP status and (optionally) message. */
export async function fails(p: Promise<unknown>, name: string, status: number, message?: string | RegExp): Promise<Error> {
  const err = await p.then(() => undefined, (e: unknown) => e as Error & { $metadata?: { httpStatusCode?: number } });
  assert.ok(err, `the call should have failed with ${name}`);
  assert.equal(err.name, name, `error name (message: ${err.message})`);
  assert.equal(err.$metadata?.httpStatusCode, status, `HTTP status of ${name} (message: ${err.message})`);
  if (typeof message === 'string') assert.equal(err.message, message);
  else if (message) assert.match(err.message, message);
  return err;
}
