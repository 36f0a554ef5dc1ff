/**
 * How the PostgreSQL event store keeps a record (docs/storage.md, "PostgreSQL event
 * store"): compressed on the node, into bytea, before it reaches the database. PostgreSQL compresses
 * a value only when its row passes ~2 KB, and a CloudTrail record is ~1-2 KB: left to it, almost
 * every record is stored as is. Compressed here, alone, a record is ~55% of its size; with a
 * dictionary of CloudTrail's vocabulary (the record format's keys and its common values, no user
 * data) ~35%: every record repeats the same ~40 keys, which a frame of its own cannot reuse.
 *
 * Only records: summaries (~300 bytes) stay text. Stored bytes: one format byte, then the payload.
 * - 1: a zstd frame (level 1) made with DICTIONARY_V1 as its raw-content dictionary.
 * A format, once released, never changes (rows written by it live as long as the retention): a
 * better dictionary is a new format byte beside the old one.
 */
import { FrameDecoder, FrameEncoder } from '../zstd-frames.ts';

/** Format 1's dictionary: CloudTrail's record vocabulary. NEVER edit: rows decode with it. */
const DICTIONARY_V1 = Buffer.from([
  "{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"AssumedRole\",\"principalId\":\"AROA\",\"arn\":\"arn:aws:sts::\",\"accountId\":\"\",\"accessKeyId\":\"ASIA\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\",\"principalId\":\"AROA\",\"arn\":\"arn:aws:iam::\",\"accountId\":\"\",\"userName\":\"\"},\"webIdFederationData\":{},\"attributes\":{\"creationDate\":\"T00:00:00Z\",\"mfaAuthenticated\":\"false\"}},\"invokedBy\":\".amazonaws.com\"},\"eventTime\":\"T00:00:00Z\",\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"\",\"awsRegion\":\"us-east-1\",\"sourceIPAddress\":\"\",\"userAgent\":\"aws-cli/2 Python/3 Linux/5 exe/x86_64 prompt/off command/\",\"requestParameters\":null,\"responseElements\":null,\"additionalEventData\":{},\"requestID\":\"\",\"eventID\":\"\",\"readOnly\":false,\"resources\":[{\"accountId\":\"\",\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::\"}],\"eventType\":\"AwsApiCall\",\"managementEvent\":true,\"recipientAccountId\":\"\",\"sharedEventID\":\"\",\"vpcEndpointId\":\"vpce-\",\"eventCategory\":\"Management\",\"errorCode\":\"AccessDenied\",\"errorMessage\":\"\",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.2\",\"cipherSuite\":\"ECDHE-RSA-AES128-GCM-SHA256\",\"clientProvidedHostHeader\":\".amazonaws.com\"},\"sessionCredentialFromConsole\":\"true\"}",
  "{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":\"IAMUser\",\"principalId\":\"AIDA\",\"arn\":\"arn:aws:iam:::user/\",\"accountId\":\"\",\"accessKeyId\":\"AKIA\",\"userName\":\"\"},\"eventTime\":\"T00:00:00Z\",\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"Describe\",\"awsRegion\":\"us-east-1\",\"sourceIPAddress\":\"AWS Internal\",\"userAgent\":\"Boto3/1 md/Botocore#1 ua/2.0 os/linux#5 md/arch#x86_64 lang/python#3 Botocore/1 aws-sdk-go-v2/1 terraform-provider-aws/5 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-java/ console.amazonaws.com\",\"requestParameters\":{\"filterSet\":{\"items\":[{\"name\":\"\",\"valueSet\":{\"items\":[{\"value\":\"\"}]}}]},\"instancesSet\":{\"items\":[{\"instanceId\":\"i-\"}]},\"maxResults\":1000,\"bucketName\":\"\",\"Host\":\"\",\"key\":\"\",\"roleArn\":\"arn:aws:iam:::role/\",\"roleSessionName\":\"\",\"durationSeconds\":3600,\"functionName\":\"\",\"tableName\":\"\"},\"responseElements\":{\"credentials\":{\"accessKeyId\":\"ASIA\",\"sessionToken\":\"\",\"expiration\":\"\"},\"assumedRoleUser\":{\"assumedRoleId\":\"AROA\",\"arn\":\"arn:aws:sts:::assumed-role/\"}},\"requestID\":\"\",\"eventID\":\"\",\"readOnly\":true,\"resources\":[{\"accountId\":\"\",\"type\":\"AWS::IAM::Role\",\"ARN\":\"arn:aws:iam:::role/\"},{\"type\":\"AWS::DynamoDB::Table\",\"ARN\":\"arn:aws:dynamodb:\"},{\"type\":\"AWS::Lambda::Function\",\"ARN\":\"arn:aws:lambda:\"},{\"type\":\"AWS::KMS::Key\",\"ARN\":\"arn:aws:kms:\"}],\"eventType\":\"AwsApiCall\",\"apiVersion\":\"\",\"managementEvent\":true,\"recipientAccountId\":\"\",\"eventCategory\":\"Management\",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\".us-east-1.amazonaws.com\"}}",
  "{\"eventVersion\":\"1.11\",\"userIdentity\":{\"type\":\"AWSService\",\"invokedBy\":\".amazonaws.com\"},\"eventTime\":\"T00:00:00Z\",\"eventSource\":\"sts.amazonaws.com\",\"eventName\":\"AssumeRole\",\"awsRegion\":\"eu-west-1\",\"sourceIPAddress\":\".amazonaws.com\",\"userAgent\":\".amazonaws.com\",\"eventType\":\"AwsServiceEvent\",\"serviceEventDetails\":{},\"eventType\":\"AwsConsoleSignIn\",\"eventCategory\":\"Data\",\"readOnly\":false,\"managementEvent\":false,\"recipientAccountId\":\"\"}",
  "{\"EventId\":\"\",\"EventName\":\"\",\"ReadOnly\":\"true\",\"AccessKeyId\":\"AKIA\",\"EventTime\":,\"EventSource\":\".amazonaws.com\",\"Username\":\"\",\"Resources\":[{\"ResourceType\":\"AWS::\",\"ResourceName\":\"arn:aws:\"}]}"
].join('\n'));

const FORMAT_ZSTD_V1 = 1;
const LEVEL_V1 = 1;

/**
 * Format 1's encoder: one zstd context kept with the dictionary loaded (../zstd-frames.ts), where
 * node's one-shot call built a context and loaded the dictionary for every record (per thread:
 * each worker thread has its own module instance).
 */
const encoder = new FrameEncoder(LEVEL_V1, DICTIONARY_V1);

/**
 * Format 1's decoder, likewise one per thread: node's `zstdDecompressSync` made a context, loaded
 * the dictionary and allocated a 16 KiB ArrayBuffer for every record read. That memory is outside
 * V8's heap, and each 64 MiB of it started a full collection of the main thread's: one every ~80
 * lookups of 50 records, each a pause of ~10 ms (docs/performance.md, "Issue 12, part 16").
 */
const decoder = new FrameDecoder(DICTIONARY_V1);

/** Records this thread read through its kept context / by the one-shot call (tests and measurements). */
export const recordDecodeStats: Readonly<{ reused: number; fallback: number }> = decoder.stats;

/** Where a record's UTF-8 is laid out before compression (reused up to 1 MiB; a larger record gets memory of its own). */
let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * The stored form of a record given as its UTF-8 bytes (`AppendInput.utf8`: the bulk endpoint
 * writes each record's UTF-8 once, at admit): compressed as they are, no text made from them and
 * no second encoding.
 */
export function encodeRecordBytes(utf8: Uint8Array): Buffer {
  return encoder.compress(utf8, FORMAT_ZSTD_V1);
}

/** The stored form of `text` (its UTF-8; a lone surrogate becomes U+FFFD, as in a text column) and that UTF-8's length. */
export function encodeRecord(text: string): { stored: Buffer; utf8Bytes: number } {
  let buf = scratch;
  // At most 3 bytes of UTF-8 per UTF-16 unit: only a text that may not fit is measured.
  if (text.length * 3 > buf.length) {
    const need = Buffer.byteLength(text, 'utf8');
    if (need > buf.length) {
      buf = Buffer.allocUnsafe(need);
      if (need <= 1024 * 1024) scratch = buf;
    }
  }
  const n = buf.write(text, 0, 'utf8');
  return { stored: encoder.compress(buf.subarray(0, n), FORMAT_ZSTD_V1), utf8Bytes: n };
}

/** The stored form of `text` (its UTF-8; a lone surrogate becomes U+FFFD, as in a text column). */
export const encodeText = (text: string): Buffer => encodeRecord(text).stored;

/** The text `stored` was made from, byte for byte. */
export function decodeText(stored: Buffer): string {
  if (stored[0] !== FORMAT_ZSTD_V1) throw new Error(`PostgreSQL event store: a stored record of unknown format ${stored[0]} (written by a newer OpenTrail?)`);
  // The text is made at once: the scratch memory it was decoded into is reused by the next call.
  decoder.reset();
  return decoder.decode(stored.subarray(1)).toString('utf8');
}
