import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { lookupUsername, principalArn, uniqueIdFor, userIdentityOf, type Identity } from './identity.ts';
import { stableUuid } from './ids.ts';

const base = { accountId: '123456789012', secretAccessKey: 's', mfaAuthenticated: false, isTrustedProducer: false };

const root: Identity = { ...base, type: 'Root', accessKeyId: 'AKIAROOT0000000000', principalId: '123456789012' };
const user: Identity = { ...base, type: 'IAMUser', accessKeyId: 'AKIAUSER0000000000', userName: 'alice', principalId: 'AIDAEXAMPLE' };
const role: Identity = {
  ...base, type: 'AssumedRole', accessKeyId: 'ASIAROLE0000000000', roleName: 'Admin', sessionName: 'bob', roleId: 'AROAEXAMPLE',
  principalId: 'AROAEXAMPLE:bob', sessionToken: 'tok', sessionCreationDate: '2026-01-02T03:04:05Z', mfaAuthenticated: true,
};

describe('uniqueIdFor', () => {
  test('is the prefix followed by 17 upper-case base32 characters', () => {
    for (const prefix of ['AIDA', 'AROA', '']) {
      const id = uniqueIdFor(prefix, 'seed');
      assert.equal(id.length, prefix.length + 17);
      assert.ok(id.startsWith(prefix));
      assert.match(id.slice(prefix.length), /^[A-Z2-7]{17}$/);
    }
  });

  test('is stable for a seed and differs between seeds', () => {
    assert.equal(uniqueIdFor('AIDA', '111111111111/user/alice'), uniqueIdFor('AIDA', '111111111111/user/alice'));
    assert.notEqual(uniqueIdFor('AIDA', '111111111111/user/alice'), uniqueIdFor('AIDA', '111111111111/user/alicf'));
    assert.notEqual(uniqueIdFor('AIDA', '111111111111/user/alice'), uniqueIdFor('AIDA', '222222222222/user/alice'));
  });

  test('property: distinct seeds give distinct ids (85 bits; a collision in a few hundred would be a bug)', () => {
    fc.assert(fc.property(fc.uniqueArray(fc.string(), { minLength: 2, maxLength: 200 }), (seeds) => {
      const ids = new Set(seeds.map((s) => uniqueIdFor('AIDA', s)));
      assert.equal(ids.size, seeds.length);
    }), { numRuns: 50 });
  });
});

describe('stableUuid', () => {
  test('is a version-5-layout UUID, stable for its parts', () => {
    const a = stableUuid('arn:aws:cloudtrail:us-east-1:111111111111:channel/x', 'uid-1');
    assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(a, stableUuid('arn:aws:cloudtrail:us-east-1:111111111111:channel/x', 'uid-1'));
    assert.notEqual(a, stableUuid('arn:aws:cloudtrail:us-east-1:111111111111:channel/x', 'uid-2'));
  });

  test('parts are separated, not concatenated: (ab, c) and (a, bc) differ', () => {
    assert.notEqual(stableUuid('ab', 'c'), stableUuid('a', 'bc'));
  });
});

describe('userIdentityOf', () => {
  test('Root: the account root ARN, principalId the account, no userName without an alias', () => {
    const ui = userIdentityOf(root);
    assert.deepEqual(ui, {
      type: 'Root', principalId: '123456789012', arn: 'arn:aws:iam::123456789012:root', accountId: '123456789012', accessKeyId: 'AKIAROOT0000000000',
    });
  });

  test('Root with an account alias writes the alias as userName', () => {
    assert.equal(userIdentityOf({ ...root, accountAlias: 'my-org' }).userName, 'my-org');
  });

  test('IAMUser: user ARN with its path, userName', () => {
    assert.deepEqual(userIdentityOf(user), {
      type: 'IAMUser', principalId: 'AIDAEXAMPLE', arn: 'arn:aws:iam::123456789012:user/alice', accountId: '123456789012',
      accessKeyId: 'AKIAUSER0000000000', userName: 'alice',
    });
    assert.equal(userIdentityOf({ ...user, path: '/division/team/' }).arn, 'arn:aws:iam::123456789012:user/division/team/alice');
  });

  test('AssumedRole: STS session ARN (no path), sessionIssuer is the role with its path', () => {
    const ui = userIdentityOf({ ...role, path: '/service-role/' });
    assert.equal(ui.type, 'AssumedRole');
    assert.equal(ui.arn, 'arn:aws:sts::123456789012:assumed-role/Admin/bob');
    assert.equal(ui.principalId, 'AROAEXAMPLE:bob');
    assert.equal(ui.userName, undefined, 'assumed-role identities carry no top-level userName');
    assert.deepEqual(ui.sessionContext, {
      sessionIssuer: {
        type: 'Role', principalId: 'AROAEXAMPLE', arn: 'arn:aws:iam::123456789012:role/service-role/Admin',
        accountId: '123456789012', userName: 'Admin',
      },
      webIdFederationData: {},
      attributes: { creationDate: '2026-01-02T03:04:05Z', mfaAuthenticated: 'true' },
    });
  });

  test('mfaAuthenticated is written as the string CloudTrail uses', () => {
    assert.equal(userIdentityOf({ ...role, mfaAuthenticated: false }).sessionContext?.attributes?.mfaAuthenticated, 'false');
  });

  test('principalArn agrees with userIdentityOf', () => {
    for (const id of [root, user, role]) assert.equal(principalArn(id), userIdentityOf(id).arn);
  });
});

describe('lookupUsername', () => {
  test('no identity, no name', () => {
    assert.equal(lookupUsername(undefined), undefined);
  });

  test('an explicit userName always wins', () => {
    assert.equal(lookupUsername({ type: 'AssumedRole', userName: 'explicit', arn: 'arn:aws:sts::1:assumed-role/R/sess' }), 'explicit');
  });

  test('Root without userName is "root"', () => {
    assert.equal(lookupUsername({ type: 'Root', arn: 'arn:aws:iam::123456789012:root' }), 'root');
  });

  test('AssumedRole: the session name from the ARN, else from principalId', () => {
    assert.equal(lookupUsername({ type: 'AssumedRole', arn: 'arn:aws:sts::123456789012:assumed-role/Admin/bob@example.com' }), 'bob@example.com');
    assert.equal(lookupUsername({ type: 'AssumedRole', principalId: 'AROAEXAMPLE:i-0abc' }), 'i-0abc');
    assert.equal(lookupUsername({ type: 'AssumedRole', principalId: 'AROAEXAMPLE' }), undefined);
  });

  test('FederatedUser: the name after the last slash', () => {
    assert.equal(lookupUsername({ type: 'FederatedUser', arn: 'arn:aws:sts::123456789012:federated-user/Carol' }), 'Carol');
  });

  test('AWSService: the invoking service', () => {
    assert.equal(lookupUsername({ type: 'AWSService', invokedBy: 'cloudtrail.amazonaws.com' }), 'cloudtrail.amazonaws.com');
    assert.equal(lookupUsername({ type: 'AWSService' }), undefined);
  });

  test('IAMUser without userName, and unknown types, name nobody', () => {
    assert.equal(lookupUsername({ type: 'IAMUser', arn: 'arn:aws:iam::1:user/x' }), undefined);
    assert.equal(lookupUsername({ type: 'SAMLUser' }), undefined);
    assert.equal(lookupUsername({}), undefined);
  });

  test('non-string members from untrusted records do not throw', () => {
    assert.equal(lookupUsername({ type: 'AssumedRole', arn: 42 as unknown as string, principalId: {} as unknown as string }), undefined);
    assert.equal(lookupUsername({ type: 'Root', userName: 7 as unknown as string }), 'root');
  });

  test('round trip: the identity we write is found by the name Event history shows', () => {
    assert.equal(lookupUsername(userIdentityOf(root)), 'root');
    assert.equal(lookupUsername(userIdentityOf({ ...root, accountAlias: 'org' })), 'org');
    assert.equal(lookupUsername(userIdentityOf(user)), 'alice');
    assert.equal(lookupUsername(userIdentityOf(role)), 'bob');
  });

  test('property: any valid session name round-trips through an assumed-role identity', () => {
    // IAM: role session names are 2-64 of [\w+=,.@-].
    fc.assert(fc.property(fc.stringMatching(/^[\w+=,.@-]{2,64}$/), fc.stringMatching(/^[\w+=,.@-]{1,64}$/), (sessionName, roleName) => {
      const id: Identity = { ...role, sessionName, roleName, principalId: `AROAEXAMPLE:${sessionName}` };
      assert.equal(lookupUsername(userIdentityOf(id)), sessionName);
    }));
  });
  test('principal ARNs take the partition of the Region the call was signed for', () => {
    assert.equal(principalArn(root, 'aws-cn'), 'arn:aws-cn:iam::123456789012:root');
    assert.equal(userIdentityOf(user, 'aws-us-gov').arn, 'arn:aws-us-gov:iam::123456789012:user/alice');
    const ui = userIdentityOf(role, 'aws-cn');
    assert.match(ui.arn!, /^arn:aws-cn:sts::123456789012:assumed-role\//);
    assert.match(ui.sessionContext!.sessionIssuer!.arn!, /^arn:aws-cn:iam::123456789012:role\//);
  });
});
