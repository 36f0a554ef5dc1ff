/**
 * AWS-shaped errors: the modelled exception name, a message, and the HTTP status AWS uses.
 * Anything thrown that is not a ServiceError is a bug and answers InternalFailure (500).
 */
import { CLOUDTRAIL_MODEL } from './protocol/generated/cloudtrail.ts';

export class ServiceError extends Error {
  readonly code: string;
  readonly statusCode: number;
  constructor(code: string, message: string, statusCode = 400) {
    super(message);
    this.name = code;
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** A modelled CloudTrail exception with the status its model gives it (httpError; 400 when none). */
export function cloudTrailError(code: string, message: string): ServiceError {
  return new ServiceError(code, message, CLOUDTRAIL_MODEL.errorStatus[code] ?? 400);
}

export const validationError = (message: string): ServiceError =>
  new ServiceError('ValidationException', message, 400);
