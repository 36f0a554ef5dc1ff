/**
 * Encoding an AWS error answer in the protocol the request spoke: the JSON protocols' `{__type,
 * message}` with `x-amzn-errortype`, rpcv2Cbor's CBOR map, awsQuery's `<ErrorResponse>` and
 * restXml's `<Error>`. Used by the recording gateway for the refusals it answers itself.
 */
import { cbor } from '@smithy/core/cbor';
import type { Protocol } from './model.ts';

export function xmlEscape(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Headers (content type, error type, request id) and body of an error answer; no content-length. */
export function encodeError(protocol: Protocol, code: string, message: string, requestId: string): { headers: Record<string, string>; body: Buffer | Uint8Array } {
  const headers: Record<string, string> = { 'x-amzn-requestid': requestId };
  let body: Buffer | Uint8Array;
  if (protocol === 'rpcv2Cbor') {
    headers['smithy-protocol'] = 'rpc-v2-cbor';
    headers['content-type'] = 'application/cbor';
    body = cbor.serialize({ __type: code, message });
  } else if (protocol === 'awsQuery') {
    headers['content-type'] = 'text/xml';
    body = Buffer.from(`<ErrorResponse><Error><Type>Sender</Type><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message></Error><RequestId>${requestId}</RequestId></ErrorResponse>`);
  } else if (protocol === 'restXml') {
    headers['content-type'] = 'application/xml';
    headers['x-amz-request-id'] = requestId;
    body = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message><RequestId>${requestId}</RequestId></Error>`);
  } else {
    headers['content-type'] = protocol === 'restJson1' ? 'application/json' : 'application/x-amz-json-1.1';
    headers['x-amzn-errortype'] = code;
    body = Buffer.from(JSON.stringify({ __type: code, message }));
  }
  return { headers, body };
}
