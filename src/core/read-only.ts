/**
 * Whether an API call only reads, as CloudTrail writes readOnly. Used when a record arrives without
 * readOnly, and for the self-audit of our own API.
 *
 * The rule is the action's verb (Get, List, Describe, ... read); the table lists the calls whose
 * readOnly AWS writes otherwise, checked against the records in test/fixtures/corpus.
 */
const READ_PREFIXES = ['Get', 'List', 'Describe', 'Lookup', 'Head', 'Search', 'BatchGet', 'Query', 'Scan', 'Select', 'Check', 'Discover', 'Validate', 'Verify', 'Estimate', 'Preview', 'Test'];

const EXCEPTIONS: Record<string, Record<string, boolean>> = {
  'sts.amazonaws.com': {
    AssumeRole: true, AssumeRoleWithSAML: true, AssumeRoleWithWebIdentity: true, AssumeRoot: true,
    GetFederationToken: false,
  },
  'kms.amazonaws.com': {
    Encrypt: true, Decrypt: true, ReEncrypt: true, GenerateDataKey: true, GenerateDataKeyWithoutPlaintext: true,
    GenerateDataKeyPair: true, GenerateDataKeyPairWithoutPlaintext: true, GenerateRandom: true, GenerateMac: true,
    Sign: true,
  },
  'bedrock.amazonaws.com': { InvokeModel: true, InvokeModelWithResponseStream: true, Converse: true, ConverseStream: true },
};

/** readOnly for a call named by its eventName, judged by its verb. */
export function isReadOnlyEventName(eventName: string): boolean {
  for (const p of READ_PREFIXES) {
    if (eventName.startsWith(p) && (eventName.length === p.length || /[A-Z0-9]/.test(eventName[p.length]!))) return true;
  }
  return false;
}

/** readOnly for a call as CloudTrail writes it: the exceptions table first, then the verb. */
export function isReadOnlyCall(eventSource: string | undefined, eventName: string): boolean {
  const known = eventSource === undefined ? undefined : EXCEPTIONS[eventSource]?.[eventName];
  return known ?? isReadOnlyEventName(eventName);
}
