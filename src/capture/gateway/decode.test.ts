import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cbor, dateToTag } from '@smithy/core/cbor';
import { decodeAnswer, decodeRequest, HIDDEN, type GatewayRequest } from './decode.ts';
import { loadModel, modelNames, type ServiceModel } from './model.ts';
import { SERVICE_RULES } from './rules.ts';

const model = (name: string): ServiceModel => {
  const m = loadModel(name);
  assert.ok(m, `model ${name}`);
  return m;
};
const req = (over: Partial<GatewayRequest>): GatewayRequest => ({ method: 'POST', path: '/', rawQuery: '', headers: {}, body: null, ...over });
const lower = { memberCase: 'lowerCamel' } as const;

test('every capture rule has a generated model, and every model a rule', () => {
  assert.deepEqual(SERVICE_RULES.map((r) => r.signingName).sort(), modelNames());
  for (const r of SERVICE_RULES) {
    for (const op of Object.keys(r.operations ?? {})) assert.ok(model(r.signingName).operations[op], `${r.signingName} ${op} is an operation of the model`);
  }
});

test('awsQuery: dotted list members become lists, numbers numbers, names lowerCamelCase', () => {
  const body = 'Action=PutMetricAlarm&Version=2010-08-01&AlarmName=cpu&Threshold=50.5&EvaluationPeriods=3&ActionsEnabled=true'
    + '&Dimensions.member.2.Name=B&Dimensions.member.2.Value=2&Dimensions.member.1.Name=A&Dimensions.member.1.Value=1&AlarmActions.member.1=arn%3Aaws%3Asns%3Aus-east-1%3A1%3At';
  const call = decodeRequest(model('monitoring'), req({ headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' }, body: Buffer.from(body) }), lower);
  assert.equal(call.operation, 'PutMetricAlarm');
  assert.equal(call.protocol, 'awsQuery');
  assert.deepEqual(call.params, {
    alarmName: 'cpu', threshold: 50.5, evaluationPeriods: 3, actionsEnabled: true,
    dimensions: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }],
    alarmActions: ['arn:aws:sns:us-east-1:1:t'],
  });
});

test('rpcv2Cbor: the operation from the path, members from the CBOR body; timestamps as ISO-8601', () => {
  const body = Buffer.from(cbor.serialize({ AlarmName: 'x', StartDate: dateToTag(new Date('2026-01-02T03:04:05Z')), HistoryItemType: 'StateUpdate' }));
  const call = decodeRequest(model('monitoring'), req({ path: '/service/GraniteServiceVersion20100801/operation/DescribeAlarmHistory', headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor' }, body }), lower);
  assert.equal(call.operation, 'DescribeAlarmHistory');
  assert.deepEqual(call.params, { alarmName: 'x', startDate: '2026-01-02T03:04:05.000Z', historyItemType: 'StateUpdate' });
});

test('awsJson: sensitive members are hidden as CloudTrail hides them, at any depth', () => {
  const body = JSON.stringify({ Name: 'c', AuthorizationType: 'BASIC', AuthParameters: { BasicAuthParameters: { Username: 'u', Password: 'p@ss' } } });
  const call = decodeRequest(model('events'), req({ headers: { 'x-amz-target': 'AWSEvents.CreateConnection', 'content-type': 'application/x-amz-json-1.1' }, body: Buffer.from(body) }), lower);
  assert.deepEqual(call.params.authParameters, { basicAuthParameters: { username: 'u', password: HIDDEN } });
});

test('restJson1: labels, query lists and body members merge; a bad body is reported, not thrown', () => {
  const m = model('apigateway');
  const get = decodeRequest(m, req({ method: 'GET', path: '/restapis/abc/resources/r%2F1', rawQuery: 'embed=methods&embed=x' }), { memberCase: 'model' });
  assert.equal(get.operation, 'GetResource');
  assert.deepEqual(get.params, { restApiId: 'abc', resourceId: 'r/1', embed: ['methods', 'x'] });
  const bad = decodeRequest(m, req({ method: 'POST', path: '/restapis', body: Buffer.from('{not json') }), { memberCase: 'model' });
  assert.equal(bad.operation, 'CreateRestApi');
  assert.ok(bad.bodyError);
});

test('restXml (S3): path-style routing tells the object calls apart', () => {
  const s3 = model('s3');
  const op = (method: string, path: string, rawQuery = '', headers: Record<string, string> = {}) => decodeRequest(s3, req({ method, path, rawQuery, headers }), { memberCase: 'model' });
  assert.equal(op('PUT', '/b/k/1.txt').operation, 'PutObject');
  assert.equal(op('PUT', '/b/k/1.txt', 'x-id=PutObject').params.Key, 'k/1.txt');
  assert.equal(op('PUT', '/b/k', '', { 'x-amz-copy-source': 'o/k' }).operation, 'CopyObject');
  assert.equal(op('PUT', '/b/k', 'partNumber=1&uploadId=u').operation, 'UploadPart');
  assert.equal(op('PUT', '/b/k', 'partNumber=1&uploadId=u', { 'x-amz-copy-source': 'o/k' }).operation, 'UploadPartCopy');
  assert.equal(op('POST', '/b/k', 'uploads').operation, 'CreateMultipartUpload');
  assert.equal(op('GET', '/b', 'list-type=2&prefix=a').operation, 'ListObjectsV2');
  assert.equal(op('GET', '/b').operation, 'ListObjects');
  assert.equal(op('PUT', '/b', 'acl').operation, 'PutBucketAcl');
  assert.equal(op('GET', '/b/k', 'acl').operation, 'GetObjectAcl');
  assert.equal(op('PUT', '/b').operation, 'CreateBucket');
  assert.equal(op('GET', '/').operation, 'ListBuckets');
  assert.equal(op('GET', '/b/k', '', { 'x-amz-server-side-encryption-customer-key': 'secret' }).params.SSECustomerKey, HIDDEN);
});

test('every REST operation of every model decodes back to itself from its own URI template', () => {
  const failures: string[] = [];
  for (const name of modelNames()) {
    const m = model(name);
    for (const [operation, op] of Object.entries(m.operations)) {
      if (!op.http) continue;
      const [method, uri] = op.http;
      const [path, query = ''] = uri.split('?');
      let concrete = path!.replace(/\{[^}]+\+\}/g, 'greedy/part').replace(/\{[^}]+\}/g, 'label1');
      const shape = op.input ? m.shapes[op.input] : undefined;
      const bucketLabel = shape?.type === 'structure' && shape.members.Bucket?.location === 'label';
      if (name === 's3' && bucketLabel && !path!.startsWith('/{Bucket}')) concrete = '/bucket1' + (concrete === '/' ? '' : concrete);
      const params = query.split('&').filter(Boolean).map((p) => (p.includes('=') ? p : `${p}=`));
      const headers: Record<string, string> = {};
      const input = op.input ? m.shapes[op.input] : undefined;
      if (input?.type === 'structure') {
        for (const [member, mm] of Object.entries(input.members)) {
          if (mm.required && mm.location === 'query') params.push(`${mm.name ?? member}=v`);
          if (mm.required && mm.location === 'header') headers[(mm.name ?? member).toLowerCase()] = 'v';
        }
      }
      const rawQuery = params.join('&');
      try {
        const got = decodeRequest(m, req({ method, path: concrete, rawQuery, headers }), { memberCase: 'model' }).operation;
        if (got !== operation) failures.push(`${name} ${operation} (${method} ${uri}) -> ${got}`);
      } catch (e) {
        failures.push(`${name} ${operation} (${method} ${uri}) -> ${(e as Error).message}`);
      }
    }
  }
  assert.deepEqual(failures, []);
});

test('answers: error codes from JSON, x-amzn-errortype, CBOR and XML; request ids; outputs cased like requests', () => {
  const sd = model('servicediscovery');
  const call = decodeRequest(sd, req({ headers: { 'x-amz-target': 'Route53AutoNaming_v20170314.CreateHttpNamespace', 'content-type': 'application/x-amz-json-1.1' }, body: Buffer.from('{"Name":"n"}') }), lower);
  const ok = decodeAnswer(sd, call, 200, { 'x-amzn-requestid': 'r1' }, Buffer.from('{"OperationId":"op-1"}'), true, lower);
  assert.deepEqual(ok, { requestId: 'r1', output: { operationId: 'op-1' } });
  const err = decodeAnswer(sd, call, 400, { 'x-amzn-errortype': 'NamespaceAlreadyExists:http://internal' }, Buffer.from('{"message":"exists"}'), true, lower);
  assert.deepEqual(err.error, { code: 'NamespaceAlreadyExists', message: 'exists' });
  const typed = decodeAnswer(sd, call, 400, {}, Buffer.from('{"__type":"com.amazonaws.servicediscovery#InvalidInput","Message":"bad"}'), true, lower);
  assert.deepEqual(typed.error, { code: 'InvalidInput', message: 'bad' });

  const cw = model('monitoring');
  const cborCall = decodeRequest(cw, req({ path: '/service/GraniteServiceVersion20100801/operation/PutMetricAlarm', headers: { 'smithy-protocol': 'rpc-v2-cbor', 'content-type': 'application/cbor' }, body: Buffer.from(cbor.serialize({ AlarmName: 'a' })) }), lower);
  const cborErr = decodeAnswer(cw, cborCall, 400, {}, Buffer.from(cbor.serialize({ __type: 'com.amazonaws.cloudwatch#LimitExceeded', message: 'too many' })), true, lower);
  assert.deepEqual(cborErr.error, { code: 'LimitExceeded', message: 'too many' });

  const s3 = model('s3');
  const s3Call = decodeRequest(s3, req({ method: 'GET', path: '/b/k' }), { memberCase: 'model' });
  const xml = decodeAnswer(s3, s3Call, 404, { 'x-amz-request-id': 'R2' }, Buffer.from('<?xml version="1.0"?><Error><Code>NoSuchKey</Code><Message>The key &amp; more</Message></Error>'), true, { memberCase: 'model' });
  assert.deepEqual(xml, { requestId: 'R2', error: { code: 'NoSuchKey', message: 'The key & more' } });
});
