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
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';

/** Format 1's dictionary: CloudTrail's record vocabulary. NEVER edit: rows decode with it. */
const DICTIONARY_V1 = Buffer.from([
  "{\"eventVersion\":\"1.08\",\"userIdentity\":{\"type\":\"AssumedRole\",\"principalId\":\"AROA\",\"arn\":\"arn:aws:sts::\",\"accountId\":\"\",\"accessKeyId\":\"ASIA\",\"sessionContext\":{\"sessionIssuer\":{\"type\":\"Role\",\"principalId\":\"AROA\",\"arn\":\"arn:aws:iam::\",\"accountId\":\"\",\"userName\":\"\"},\"webIdFederationData\":{},\"attributes\":{\"creationDate\":\"T00:00:00Z\",\"mfaAuthenticated\":\"false\"}},\"invokedBy\":\".amazonaws.com\"},\"eventTime\":\"T00:00:00Z\",\"eventSource\":\"s3.amazonaws.com\",\"eventName\":\"\",\"awsRegion\":\"us-east-1\",\"sourceIPAddress\":\"\",\"userAgent\":\"aws-cli/2 Python/3 Linux/5 exe/x86_64 prompt/off command/\",\"requestParameters\":null,\"responseElements\":null,\"additionalEventData\":{},\"requestID\":\"\",\"eventID\":\"\",\"readOnly\":false,\"resources\":[{\"accountId\":\"\",\"type\":\"AWS::S3::Object\",\"ARN\":\"arn:aws:s3:::\"}],\"eventType\":\"AwsApiCall\",\"managementEvent\":true,\"recipientAccountId\":\"\",\"sharedEventID\":\"\",\"vpcEndpointId\":\"vpce-\",\"eventCategory\":\"Management\",\"errorCode\":\"AccessDenied\",\"errorMessage\":\"\",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.2\",\"cipherSuite\":\"ECDHE-RSA-AES128-GCM-SHA256\",\"clientProvidedHostHeader\":\".amazonaws.com\"},\"sessionCredentialFromConsole\":\"true\"}",
  "{\"eventVersion\":\"1.09\",\"userIdentity\":{\"type\":\"IAMUser\",\"principalId\":\"AIDA\",\"arn\":\"arn:aws:iam:::user/\",\"accountId\":\"\",\"accessKeyId\":\"AKIA\",\"userName\":\"\"},\"eventTime\":\"T00:00:00Z\",\"eventSource\":\"ec2.amazonaws.com\",\"eventName\":\"Describe\",\"awsRegion\":\"us-east-1\",\"sourceIPAddress\":\"AWS Internal\",\"userAgent\":\"Boto3/1 md/Botocore#1 ua/2.0 os/linux#5 md/arch#x86_64 lang/python#3 Botocore/1 aws-sdk-go-v2/1 terraform-provider-aws/5 (+https://registry.terraform.io/providers/hashicorp/aws) aws-sdk-java/ console.amazonaws.com\",\"requestParameters\":{\"filterSet\":{\"items\":[{\"name\":\"\",\"valueSet\":{\"items\":[{\"value\":\"\"}]}}]},\"instancesSet\":{\"items\":[{\"instanceId\":\"i-\"}]},\"maxResults\":1000,\"bucketName\":\"\",\"Host\":\"\",\"key\":\"\",\"roleArn\":\"arn:aws:iam:::role/\",\"roleSessionName\":\"\",\"durationSeconds\":3600,\"functionName\":\"\",\"tableName\":\"\"},\"responseElements\":{\"credentials\":{\"accessKeyId\":\"ASIA\",\"sessionToken\":\"\",\"expiration\":\"\"},\"assumedRoleUser\":{\"assumedRoleId\":\"AROA\",\"arn\":\"arn:aws:sts:::assumed-role/\"}},\"requestID\":\"\",\"eventID\":\"\",\"readOnly\":true,\"resources\":[{\"accountId\":\"\",\"type\":\"AWS::IAM::Role\",\"ARN\":\"arn:aws:iam:::role/\"},{\"type\":\"AWS::DynamoDB::Table\",\"ARN\":\"arn:aws:dynamodb:\"},{\"type\":\"AWS::Lambda::Function\",\"ARN\":\"arn:aws:lambda:\"},{\"type\":\"AWS::KMS::Key\",\"ARN\":\"arn:aws:kms:\"}],\"eventType\":\"AwsApiCall\",\"apiVersion\":\"\",\"managementEvent\":true,\"recipientAccountId\":\"\",\"eventCategory\":\"Management\",\"tlsDetails\":{\"tlsVersion\":\"TLSv1.3\",\"cipherSuite\":\"TLS_AES_128_GCM_SHA256\",\"clientProvidedHostHeader\":\".us-east-1.amazonaws.com\"}}",
  "{\"eventVersion\":\"1.11\",\"userIdentity\":{\"type\":\"AWSService\",\"invokedBy\":\".amazonaws.com\"},\"eventTime\":\"T00:00:00Z\",\"eventSource\":\"sts.amazonaws.com\",\"eventName\":\"AssumeRole\",\"awsRegion\":\"eu-west-1\",\"sourceIPAddress\":\".amazonaws.com\",\"userAgent\":\".amazonaws.com\",\"eventType\":\"AwsServiceEvent\",\"serviceEventDetails\":{},\"eventType\":\"AwsConsoleSignIn\",\"eventCategory\":\"Data\",\"readOnly\":false,\"managementEvent\":false,\"recipientAccountId\":\"\"}",
  "{\"EventId\":\"\",\"EventName\":\"\",\"ReadOnly\":\"true\",\"AccessKeyId\":\"AKIA\",\"EventTime\":,\"EventSource\":\".amazonaws.com\",\"Username\":\"\",\"Resources\":[{\"ResourceType\":\"AWS::\",\"ResourceName\":\"arn:aws:\"}]}"
].join('\n'));

const FORMAT_ZSTD_V1 = 1;
const COMPRESS_V1 = { dictionary: DICTIONARY_V1, params: { [constants.ZSTD_c_compressionLevel]: 1 } };
const DECOMPRESS_V1 = { dictionary: DICTIONARY_V1 };

/** The stored form of `text` (its UTF-8; a lone surrogate becomes U+FFFD, as in a text column). */
export function encodeText(text: string): Buffer {
  const z = zstdCompressSync(Buffer.from(text, 'utf8'), COMPRESS_V1);
  const out = Buffer.allocUnsafe(z.length + 1);
  out[0] = FORMAT_ZSTD_V1;
  z.copy(out, 1);
  return out;
}

/** The text `stored` was made from, byte for byte. */
export function decodeText(stored: Buffer): string {
  if (stored[0] !== FORMAT_ZSTD_V1) throw new Error(`PostgreSQL event store: a stored record of unknown format ${stored[0]} (written by a newer OpenTrail?)`);
  return zstdDecompressSync(stored.subarray(1), DECOMPRESS_V1).toString('utf8');
}
