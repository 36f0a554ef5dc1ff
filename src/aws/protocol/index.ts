/**
 * The AWS protocol layer: requests decoded by their protocol and a service's model (decode.ts,
 * model.ts: the recording gateway's models in ./models), error answers encoded by protocol
 * (encode.ts), and the APIs OpenTrail serves typed and checked by their generated models
 * (./generated, validate.ts, overrides.ts).
 */
import { CLOUDTRAIL_MODEL, type CloudTrailOperation, type CloudTrailOperations } from './generated/cloudtrail.ts';
import { CLOUDTRAIL_DATA_MODEL, type CloudTrailDataOperation, type CloudTrailDataOperations } from './generated/cloudtrail-data.ts';
import { CLOUDTRAIL_DATA_OVERRIDES, CLOUDTRAIL_OVERRIDES } from './overrides.ts';
import { checkInput } from './validate.ts';

export type * from './generated/cloudtrail.ts';
export type {
  AuditEvent, AuditEventResultEntry, CloudTrailDataOperation, CloudTrailDataOperations, PutAuditEventsRequest, PutAuditEventsResponse, ResultErrorEntry,
} from './generated/cloudtrail-data.ts';
export { CLOUDTRAIL_MODEL } from './generated/cloudtrail.ts';
export { CLOUDTRAIL_DATA_MODEL } from './generated/cloudtrail-data.ts';
export { CLOUDTRAIL_DATA_OVERRIDES, CLOUDTRAIL_OVERRIDES } from './overrides.ts';
export { checkInput, modelRegExp, validate, validationMessage, violationError, type Override, type Violation, type ViolationKind } from './validate.ts';
export { encodeError } from './encode.ts';
export { restJsonInput } from './rest-input.ts';
export type { ApiModel, ApiShape, ApiMember, ApiOperation } from './api-model.ts';

/** A CloudTrail operation's input, checked against the model (throws the ServiceError it answers). */
export function cloudTrailInput<Op extends CloudTrailOperation>(op: Op, input: unknown): CloudTrailOperations[Op]['input'] {
  return checkInput(CLOUDTRAIL_MODEL, op, input, CLOUDTRAIL_OVERRIDES[op]);
}

/** A cloudtrail-data operation's input, checked against the model (throws the ServiceError it answers). */
export function cloudTrailDataInput<Op extends CloudTrailDataOperation>(op: Op, input: unknown): CloudTrailDataOperations[Op]['input'] {
  return checkInput(CLOUDTRAIL_DATA_MODEL, op, input, CLOUDTRAIL_DATA_OVERRIDES[op]);
}
