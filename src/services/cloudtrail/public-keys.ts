/**
 * ListPublicKeys (reference §5.3): the caller's Region's digest signing keys whose validity
 * overlaps [StartTime, EndTime] (both default to now, which yields the current key, made if the
 * Region has none yet). Value is the PKCS#1 DER public key (a blob: base64 in JSON), Fingerprint
 * its MD5, validity times epoch seconds.
 *
 * The AWS CLI's validate-logs calls ListPublicKeys once and does not follow NextToken, so pages
 * are large; the NextToken is opaque and bound to the account, Region and the request's times.
 */
import { cloudTrailError } from '../../aws/errors.ts';
import { cloudTrailInput, type ListPublicKeysRequest, type ListPublicKeysResponse, type PublicKey } from '../../aws/protocol/index.ts';
import type { NextTokenCodec } from '../../history/index.ts';
import type { SigningKeyStore } from '../../integrity/index.ts';
import type { CallContext } from '../context.ts';

export interface PublicKeyServiceDeps {
  keys: SigningKeyStore;
  tokens: NextTokenCodec;
  /** Keys per page; default 1000. */
  pageSize?: number;
}


/** A ListPublicKeysResponse whose keys have every member. */
export interface PublicKeyPage extends ListPublicKeysResponse {
  PublicKeyList: Required<PublicKey>[];
}

const DEFAULT_PAGE = 1000;

export class PublicKeyService {
  private readonly deps: PublicKeyServiceDeps;
  private readonly pageSize: number;

  constructor(deps: PublicKeyServiceDeps) {
    this.deps = deps;
    this.pageSize = deps.pageSize ?? DEFAULT_PAGE;
    if (!(this.pageSize >= 1)) throw new Error('pageSize must be at least 1');
  }

  /** Checks its input against the model itself (it is also called directly, not only by the dispatch). */
  async listPublicKeys(ctx: CallContext, request: ListPublicKeysRequest | object): Promise<PublicKeyPage> {
    const input = cloudTrailInput('ListPublicKeys', request);
    const startSec = input.StartTime;
    const endSec = input.EndTime;
    const token = input.NextToken;
    const startMs = startSec === undefined ? ctx.nowMs : Math.round(startSec * 1000);
    const endMs = endSec === undefined ? ctx.nowMs : Math.round(endSec * 1000);
    if (startMs > endMs) throw cloudTrailError('InvalidTimeRangeException', 'Start time must be earlier than or equal to end time.');

    // The token is bound to the times as sent (a default "now" moves between pages).
    const binding = { accountId: ctx.accountId, region: ctx.region, query: JSON.stringify(['ListPublicKeys', startSec ?? null, endSec ?? null]) };
    let fromStartMs = Infinity;
    if (token !== undefined) {
      const pos = this.deps.tokens.decode(token, binding);
      if (!pos) throw cloudTrailError('InvalidTokenException', 'The NextToken is not valid.');
      fromStartMs = pos.t;
    }

    // A Region always has a current key: make it when the range reaches now.
    if (startMs <= ctx.nowMs && ctx.nowMs <= endMs) await this.deps.keys.currentKey(ctx.region, ctx.nowMs);
    // Newest first, as in AWS's samples.
    const keys = (await this.deps.keys.keysBetween(ctx.region, startMs, endMs)).filter((k) => k.validityStartMs <= fromStartMs).reverse();
    const page = keys.slice(0, this.pageSize);
    const out: PublicKeyPage = {
      PublicKeyList: page.map((k) => ({
        Value: k.publicKeyDer.toString('base64'),
        ValidityStartTime: k.validityStartMs / 1000,
        ValidityEndTime: k.validityEndMs / 1000,
        Fingerprint: k.fingerprint,
      })),
    };
    const next = keys[this.pageSize];
    // A Region's keys have distinct validity starts: the next page starts at the next (older) key.
    if (next) out.NextToken = this.deps.tokens.encode({ t: next.validityStartMs, seq: 0 }, binding);
    return out;
  }
}
