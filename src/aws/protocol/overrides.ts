/**
 * Where CloudTrail answers a model violation with an exception of its own rather than the generic
 * one (docs/compatibility.md, "Model validation"): per operation, the members whose violations
 * answer a specific modelled exception, as the API reference lists it for the operation and as
 * OpenTrail answered before its checks were generated. The first entry covering a violation wins.
 * Members not named here answer the generic exception (validate.ts).
 */
import type { Override } from './validate.ts';

const TRAIL_NAME = (member: 'Name' | 'TrailName'): Override => ({ path: member, kinds: ['required'], code: 'InvalidTrailNameException', message: `${member} is required.` });

const TAGS = (member: 'TagsList' | 'Tags'): Override[] => [
  { path: `${member}[].Key`, code: 'InvalidTagParameterException', message: 'A tag Key must be 1 to 128 characters.' },
  { path: `${member}[].Value`, code: 'InvalidTagParameterException', message: 'A tag Value must be 1 to 256 characters.' },
  { path: member, kinds: ['length'], code: 'InvalidTagParameterException', message: 'A request can name at most 200 tags.' },
  { path: `${member}[]`, code: 'InvalidTagParameterException', message: 'A tag must be an object with a Key.' },
];

const CHANNEL_NAME: Override = { path: 'Name', code: 'InvalidParameterException', message: 'Channel name must be 3 to 128 characters of letters, digits, periods, underscores and hyphens.' };
const DESTINATIONS: Override[] = [
  { path: 'Destinations', kinds: ['required', 'length'], code: 'InvalidParameterException', message: 'Destinations must list 1 to 200 destinations.' },
  { path: 'Destinations[].Type', code: 'InvalidParameterException', message: 'Destination Type must be EVENT_DATA_STORE or AWS_SERVICE.' },
  { path: 'Destinations[].Location', code: 'InvalidParameterException', message: 'Destination Location must be 3 to 1024 characters of letters, digits, and ._/-:*' },
  { path: 'Destinations', code: 'InvalidParameterException' },
];
const CHANNEL_ARN: Override = { path: 'Channel', code: 'ChannelARNInvalidException', message: 'The specified channel ARN is not valid.' };

/** CloudTrail (2013-11-01): the specific exceptions of its operations' members. */
export const CLOUDTRAIL_OVERRIDES: Readonly<Record<string, readonly Override[]>> = {
  CreateTrail: [TRAIL_NAME('Name'), { path: 'S3BucketName', kinds: ['required'], code: 'InvalidParameterException', message: 'S3BucketName is required.' }, ...TAGS('TagsList')],
  UpdateTrail: [TRAIL_NAME('Name')],
  DeleteTrail: [TRAIL_NAME('Name')],
  GetTrail: [TRAIL_NAME('Name')],
  GetTrailStatus: [TRAIL_NAME('Name')],
  StartLogging: [TRAIL_NAME('Name')],
  StopLogging: [TRAIL_NAME('Name')],
  PutEventSelectors: [TRAIL_NAME('TrailName'), { path: 'EventSelectors', code: 'InvalidEventSelectorsException' }, { path: 'AdvancedEventSelectors', code: 'InvalidEventSelectorsException' }],
  GetEventSelectors: [TRAIL_NAME('TrailName')],
  PutInsightSelectors: [{ path: 'InsightSelectors', code: 'InvalidInsightSelectorsException' }],
  AddTags: [{ path: 'ResourceId', kinds: ['required'], code: 'ResourceNotFoundException', message: 'ResourceId is required.' }, ...TAGS('TagsList')],
  RemoveTags: [{ path: 'ResourceId', kinds: ['required'], code: 'ResourceNotFoundException', message: 'ResourceId is required.' }, ...TAGS('TagsList')],
  ListTags: [{ path: 'ResourceIdList', kinds: ['required'], code: 'InvalidParameterException', message: 'ResourceIdList must name 1 to 20 resources.' }],
  LookupEvents: [
    { path: 'LookupAttributes[].AttributeKey', code: 'InvalidLookupAttributesException', message: 'AttributeKey must be one of EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource, AccessKeyId.' },
    { path: 'LookupAttributes[].AttributeValue', code: 'InvalidLookupAttributesException', message: 'AttributeValue must be a string of 1 to 2000 characters.' },
    { path: 'LookupAttributes', code: 'InvalidLookupAttributesException' },
    { path: 'MaxResults', code: 'InvalidMaxResultsException', message: 'MaxResults must be a value between 1 and 50.' },
    { path: 'EventCategory', code: 'InvalidEventCategoryException', message: 'Event category is not valid. The only valid event category is insight.' },
  ],
  CreateChannel: [CHANNEL_NAME, { path: 'Source', code: 'InvalidSourceException', message: 'Source must be Custom or the name of a partner source.' }, ...DESTINATIONS, ...TAGS('Tags')],
  UpdateChannel: [CHANNEL_ARN, CHANNEL_NAME, ...DESTINATIONS],
  GetChannel: [CHANNEL_ARN],
  DeleteChannel: [CHANNEL_ARN],
  ListChannels: [
    { path: 'MaxResults', code: 'InvalidParameterException', message: 'MaxResults must be between 1 and 1000.' },
    { path: 'NextToken', code: 'InvalidNextTokenException', message: 'The NextToken is not valid.' },
  ],
};

/**
 * cloudtrail-data (2021-08-11): every model violation is its ValidationException, but for one
 * OpenTrail extension: `channelArn` may also be a bare channel id (as GetChannel's `Channel` may),
 * so its `^arn:.*$` pattern is left to the channel lookup (InvalidChannelARN for anything else).
 */
export const CLOUDTRAIL_DATA_OVERRIDES: Readonly<Record<string, readonly Override[]>> = {
  PutAuditEvents: [{ path: 'channelArn', kinds: ['pattern'], accept: true }],
};
