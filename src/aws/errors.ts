/**
 * AWS-shaped errors: the modelled exception name, a message, and the HTTP status AWS uses.
 * Anything thrown that is not a ServiceError is a bug and answers InternalFailure (500).
 */
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

/** HTTP statuses the CloudTrail model gives its exceptions (JS v3 `httpError`); the rest are 400. */
const STATUS_BY_CODE: Record<string, number> = {
  TrailNotFoundException: 404,
  TrailNotProvidedException: 404,
  EventDataStoreNotFoundException: 404,
  ChannelNotFoundException: 404,
  QueryIdNotFoundException: 404,
  ImportNotFoundException: 404,
  ResourcePolicyNotFoundException: 404,
  S3BucketDoesNotExistException: 404,
  AccountNotFoundException: 404,
  OrganizationsNotInUseException: 404,
  AccessDeniedException: 403,
  InsufficientS3BucketPolicyException: 403,
  InsufficientSnsTopicPolicyException: 403,
  MaximumNumberOfTrailsExceededException: 403,
  NoManagementAccountSLRExistsException: 403,
  NotOrganizationManagementAccountException: 403,
  ConflictException: 409,
  ThrottlingException: 429,
  MaxConcurrentQueriesException: 429,
};

/** A modelled CloudTrail exception with the status its model gives it. */
export function cloudTrailError(code: string, message: string): ServiceError {
  return new ServiceError(code, message, STATUS_BY_CODE[code] ?? 400);
}

export const validationError = (message: string): ServiceError =>
  new ServiceError('ValidationException', message, 400);
