/**
 * A store that cannot take a write or answer a read for a reason that passes by itself (disk full,
 * I/O error, database gone). The edge answers it as a retryable 503 ServiceUnavailableException;
 * the cause stays attached for the log.
 */
export class StoreUnavailableError extends Error {
  override name = 'StoreUnavailableError';
}
