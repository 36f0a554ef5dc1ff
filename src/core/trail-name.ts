/**
 * Trail names and trail ARNs (spec 2.2).
 *
 * The rules are the ones AWS documents for InvalidTrailNameException: ASCII letters, digits, `.`, `_`
 * and `-`; a letter or digit at both ends; 3 to 128 characters; no two of `.`, `_`, `-` side by side;
 * not shaped like an IPv4 address. AWS answers each broken rule with its own message; the messages
 * here are AWS's as they appear in public error reports and in emulators that copied them (moto's
 * cloudtrail exceptions, a CloudTrail clone's trail-name check). Which rule AWS reports first when a
 * name breaks several is not documented: we check blank, length, first character, last character,
 * character set, adjacency, then the IP shape (moto checks the middle four in that order).
 */
import { buildArn, parseResourceArn } from './arn.ts';

export const TRAIL_NAME_MIN = 3;
export const TRAIL_NAME_MAX = 128;

const ALNUM = /^[A-Za-z0-9]$/;
const NAME_CHARS = /^[A-Za-z0-9._-]+$/;
const ADJACENT_SEPARATORS = /[._-]{2}/;
const IPV4_SHAPE = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/** undefined if `name` is a valid trail name, else the InvalidTrailNameException message AWS gives. */
export function validateTrailName(name: string): string | undefined {
  if (name.length === 0) return 'Trail name cannot be blank!';
  if (name.length < TRAIL_NAME_MIN) {
    return `Trail name too short. Minimum allowed length: ${TRAIL_NAME_MIN} characters. Specified name length: ${name.length} characters.`;
  }
  if (name.length > TRAIL_NAME_MAX) {
    return `Trail name too long. Maximum allowed length: ${TRAIL_NAME_MAX} characters. Specified name length: ${name.length} characters.`;
  }
  if (!ALNUM.test(name[0]!)) return 'Trail name must starts with a letter or number.';
  if (!ALNUM.test(name[name.length - 1]!)) return 'Trail name must ends with a letter or number.';
  if (!NAME_CHARS.test(name)) {
    return 'Trail name or ARN can only contain uppercase letters, lowercase letters, numbers, periods (.), hyphens (-), and underscores (_).';
  }
  if (ADJACENT_SEPARATORS.test(name)) {
    return 'Trail name or ARN cannot have adjacent periods (.), hyphens (-), or underscores (_).';
  }
  if (IPV4_SHAPE.test(name)) return 'Trail names must not be formatted as an IP address.';
  return undefined;
}

export interface TrailArnParts {
  partition: string;
  region: string;
  accountId: string;
  name: string;
}

/** us-east-1, us-gov-west-1, cn-north-1, ap-southeast-5, us-isob-east-1, eusc-de-east-1, ... */
const REGION = /^[a-z]{2,4}(?:-[a-z]+)+-\d{1,2}$/;

/** Whether the caller meant an ARN (it starts with `arn:`); a malformed one is CloudTrailARNInvalidException, not a bad name. */
export function isArnLike(s: string): boolean {
  return s.startsWith('arn:');
}

/**
 * The parts of `arn:<partition>:cloudtrail:<region>:<12 digits>:trail/<name>`, or undefined when `s`
 * is not such an ARN. The name part must consist of trail-name characters; whether it is a *valid*
 * trail name (length, ends, adjacency) is left to the caller (`validateTrailName`).
 */
export function parseTrailArn(s: string): TrailArnParts | undefined {
  const a = parseResourceArn(s, 'cloudtrail', 'trail');
  if (!a || !REGION.test(a.region) || !NAME_CHARS.test(a.id)) return undefined;
  return { partition: a.partition, region: a.region, accountId: a.accountId, name: a.id };
}

/** The ARN of the trail `name` homed in `region` of `accountId`, in the Region's partition. */
export function trailArn(region: string, accountId: string, name: string, partition?: string): string {
  return buildArn({ partition, service: 'cloudtrail', region, accountId, resource: `trail/${name}` });
}
