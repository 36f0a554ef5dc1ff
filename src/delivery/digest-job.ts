/**
 * The digest job: for every trail with log file validation, once per digest period and per
 * (account, region) the trail covers, a signed digest file listing the log files the store
 * confirmed since the previous digest, chained to it (docs/design/delivery.md, spec section 5).
 *
 * MUST: a digest lists only files the store confirmed, and chains to the previous digest of the same
 * trail, account and region; a restart mid-period neither breaks the chain nor skips a period.
 * MUST (several nodes): a trail's digests are written only under its lease (`digest/<trail ARN>`);
 * each digest is recorded (fenced) before it is written, so the object a node writes is always the
 * one the chain records, also when a node that lost its lease writes late (docs/design/delivery.md).
 */
import { gzip } from 'node:zlib';
import { promisify } from 'node:util';
import {
  DELIVERED_FILE_KIND, DIGEST_STATUS_KIND, PeriodicJob, s3KeyPrefixProblem, TRAIL_KIND, type Clock, type DeliveredFile, type DigestStatus, type OrganizationConfig, type TrailDoc,
} from '../core/index.ts';
import {
  DIGEST_HASH_ALGORITHM, DIGEST_METADATA, DIGEST_SIGNATURE_ALGORITHM, digestKey, digestTime, serializeDigest, sha256Hex,
  signDigest, signingString, type DigestFile, type SigningKeyStore,
} from '../integrity/index.ts';
import { LeaseLostError, ObjectStoreError, type ControlStore, type Fence, type ObjectStore } from '../stores/index.ts';
import type { LeaseKeeper } from '../stores/lease-keeper.ts';
import { firstDigestStartMs } from './lag.ts';

const gzipAsync = promisify(gzip);

/** Control-store kind of a digest chain's last link, keyed `<trail ARN>|<account>|<region>`. */
export const DIGEST_CHAIN_KIND = 'digest-chain';
/**
 * Control-store kind of a digest being written, keyed as its chain: recorded (fenced) before the
 * object is written, committed to the chain after; a pass that finds one writes the same bytes again.
 */
export const DIGEST_PENDING_KIND = 'digest-pending';
/** The lease group of digests: lease `digest/<trail ARN>`. */
export const DIGEST_LEASES = 'digest';

interface ChainLink {
  trailCreatedMs: number;
  endMs: number;
  bucket: string;
  key: string;
  hashHex: string;
  signature: string;
  /** Logging stopped: the next digest starts a new chain. */
  ended?: boolean;
}

/** A digest recorded before its object is written: everything needed to write the same bytes again. */
interface PendingDigest {
  trailCreatedMs: number;
  link: ChainLink;
  /** The digest file as serialized (what is hashed, signed, gzipped and stored). */
  json: string;
  /** Control-store keys of the delivered files it lists (deleted once it is committed). */
  fileKeys: string[];
}

export interface DigestJobDeps {
  control: ControlStore;
  objects: ObjectStore;
  keys: SigningKeyStore;
  clock: Clock;
  logError(msg: string, err?: unknown): void;
  /** A digest write the bucket refused (its code; written again on the next pass): a warn line, as for delivery. */
  logRefused?(msg: string): void;
  /** Several nodes on one database: this node writes the digests of the trails whose lease it holds (its share). */
  leases?: LeaseKeeper;
}

export interface DigestJobOptions {
  periodMs: number;
  regions: string[];
  organization?: OrganizationConfig;
}

export class DigestJob {
  private readonly deps: DigestJobDeps;
  private readonly opts: DigestJobOptions;
  private readonly job: PeriodicJob;
  /** When each chain's refused write was last logged (a pass comes every few seconds: a line a minute at most). */
  private readonly refusedLogged = new Map<string, number>();

  constructor(deps: DigestJobDeps, opts: DigestJobOptions) {
    this.deps = deps;
    this.opts = opts;
    this.job = new PeriodicJob(() => this.pass().catch((e) => this.deps.logError('digest pass failed', e)), {
      everyMs: Math.max(50, Math.min(this.opts.periodMs / 4, 10_000)),
      onError: (e) => this.deps.logError('digest pass failed', e),
    });
  }

  start(): void {
    this.job.start();
  }

  async stop(): Promise<void> {
    await this.job.stop();
  }

  private noteRefused(chain: string, message: string): void {
    const now = this.deps.clock.nowMs();
    const last = this.refusedLogged.get(chain);
    if (last !== undefined && now - last < 60_000) return;
    this.refusedLogged.set(chain, now);
    this.deps.logRefused?.(message);
  }

  /** Writes every digest that is due; passes never overlap. */
  tick(): Promise<void> {
    return this.job.run();
  }

  private async pass(): Promise<void> {
    let trails = (await this.deps.control.list<TrailDoc>(TRAIL_KIND, '')).map((r) => r.doc).filter((t) => t.LogFileValidationEnabled);
    const held = await this.deps.leases?.share(DIGEST_LEASES, trails.map((t) => t.TrailARN));
    if (held) trails = trails.filter((t) => held.has(t.TrailARN));
    for (const t of trails) {
      try {
        await this.trailPass(t, held?.get(t.TrailARN));
      } catch (e) {
        if (!(e instanceof LeaseLostError)) throw e;
        // Another node writes this trail's digests now.
        this.deps.leases?.lost(e.fence.name);
        this.deps.logError(`digests for ${t.TrailARN} stopped: this node lost its lease (another node writes them)`);
      }
    }
  }

  private async trailPass(t: TrailDoc, fence: Fence | undefined): Promise<void> {
    const org = this.opts.organization;
    const accounts = t.IsOrganizationTrail && org ? org.memberAccountIds : [t.accountId];
    const regions = t.IsMultiRegionTrail ? this.opts.regions : [t.HomeRegion];
    const status: DigestStatus = {};
    for (const accountId of accounts) {
      for (const region of regions) {
        try {
          if (await this.serve(t, accountId, region, fence)) status.latestDigestDeliveryTimeMs = this.deps.clock.nowMs();
        } catch (e) {
          if (e instanceof LeaseLostError) throw e;
          status.latestDigestDeliveryError = e instanceof ObjectStoreError ? e.code : 'InternalError';
          if (!(e instanceof ObjectStoreError)) this.deps.logError(`digest for ${t.TrailARN} failed`, e);
          else this.noteRefused(`${t.TrailARN}|${accountId}|${region}`, `digest for ${t.TrailARN} (${accountId}, ${region}) failed: the bucket refused it (${e.code}: ${e.message})`);
        }
      }
    }
    if (status.latestDigestDeliveryTimeMs !== undefined || status.latestDigestDeliveryError !== undefined) {
      const prev = (await this.deps.control.get<DigestStatus>(DIGEST_STATUS_KIND, t.TrailARN)) ?? {};
      const next = { ...prev, ...status };
      if (status.latestDigestDeliveryError === undefined) delete next.latestDigestDeliveryError;
      await this.deps.control.put(DIGEST_STATUS_KIND, t.TrailARN, next, { fence });
    }
  }

  /** Writes the digests due for one (trail, account, region); true when it wrote any. */
  private async serve(t: TrailDoc, accountId: string, region: string, fence: Fence | undefined): Promise<boolean> {
    const period = this.opts.periodMs;
    const now = this.deps.clock.nowMs();
    const boundary = Math.floor(now / period) * period;
    const chainKey = `${t.TrailARN}|${accountId}|${region}`;
    const stored = await this.deps.control.get<ChainLink>(DIGEST_CHAIN_KIND, chainKey);
    let link = stored?.trailCreatedMs === t.createdMs ? stored : undefined;
    // A digest recorded but perhaps not written (a crash, or the node that held the lease before):
    // the same bytes again, then committed to the chain.
    const pending = await this.deps.control.get<PendingDigest>(DIGEST_PENDING_KIND, chainKey);
    if (pending) {
      const ours = pending.trailCreatedMs === t.createdMs;
      if (ours && (!link || pending.link.endMs > link.endMs)) link = await this.commit(chainKey, pending, fence);
      // Already the chain's last link (committed by a version that forgot its files one at a time
      // and was interrupted): its files are forgotten with it, or the next digest lists them again.
      else if (ours && link && pending.link.endMs === link.endMs && pending.link.hashHex === link.hashHex) await this.forget(chainKey, pending, [], fence);
      else await this.deps.control.delete(DIGEST_PENDING_KIND, chainKey, { fence });
    }
    let wrote = false;
    // Digests run up to the last whole period; after StopLogging, up to the end of the period that
    // holds the stop (the final digest covers the StopLogging event), and then the chain ends.
    let target = boundary;
    if (!t.isLogging) {
      if (!link || link.ended) return false;
      const finalEnd = Math.ceil((t.stopLoggingTimeMs ?? now) / period) * period;
      if (finalEnd > boundary) return false;
      target = finalEnd;
      if (link.endMs >= target) {
        await this.deps.control.put(DIGEST_CHAIN_KIND, chainKey, { ...link, ended: true }, { fence });
        return false;
      }
    }
    let startMs: number;
    if (!link || link.ended) {
      startMs = firstDigestStartMs(t, now, period);
      if (startMs >= boundary) return false;
      link = undefined;
    } else {
      startMs = link.endMs;
    }
    // One digest per period, also for periods with no log files, catching up after downtime.
    while (startMs < target) {
      const endMs = Math.min(target, Math.floor(startMs / period) * period + period);
      link = await this.write(t, accountId, region, link, endMs, !t.isLogging && endMs >= target, startMs, fence);
      startMs = endMs;
      wrote = true;
    }
    return wrote;
  }

  private async write(t: TrailDoc, accountId: string, region: string, prev: ChainLink | undefined, endMs: number, final: boolean, startMs: number, fence: Fence | undefined): Promise<ChainLink> {
    // A prefix stored before S3KeyPrefix was validated: no digest under it (LatestDigestDeliveryError).
    if (t.S3KeyPrefix !== undefined && s3KeyPrefixProblem(t.S3KeyPrefix)) throw new ObjectStoreError('InvalidS3Prefix', `S3KeyPrefix of ${t.TrailARN} is not deliverable`);
    const prefix = `${t.TrailARN}|`;
    const files = (await this.deps.control.list<DeliveredFile>(DELIVERED_FILE_KIND, prefix))
      .filter((r) => r.doc.accountId === accountId && r.doc.region === region && r.doc.confirmedMs < endMs && r.doc.bucket === t.S3BucketName);
    const org = t.IsOrganizationTrail ? this.opts.organization?.id : undefined;
    const key = digestKey({ prefix: t.S3KeyPrefix, organizationId: org, accountId, region, trailName: t.Name, homeRegion: t.HomeRegion, endMs });
    // Each digest is signed with the key of the Region it covers (validate-logs asks that Region).
    const signingKey = await this.deps.keys.currentKey(region, endMs);
    const times = files.map((f) => f.doc);
    const digest: DigestFile = {
      awsAccountId: accountId,
      digestStartTime: digestTime(startMs),
      digestEndTime: digestTime(endMs),
      digestS3Bucket: t.S3BucketName,
      digestS3Object: key,
      digestPublicKeyFingerprint: signingKey.fingerprint,
      digestSignatureAlgorithm: DIGEST_SIGNATURE_ALGORITHM,
      newestEventTime: times.length ? times.map((f) => f.newestEventTime).reduce((a, b) => (a > b ? a : b)) : null,
      oldestEventTime: times.length ? times.map((f) => f.oldestEventTime).reduce((a, b) => (a < b ? a : b)) : null,
      previousDigestS3Bucket: prev ? prev.bucket : null,
      previousDigestS3Object: prev ? prev.key : null,
      previousDigestHashValue: prev ? prev.hashHex : null,
      previousDigestHashAlgorithm: prev ? DIGEST_HASH_ALGORITHM : null,
      previousDigestSignature: prev ? prev.signature : null,
      logFiles: times.map((f) => ({
        s3Bucket: f.bucket, s3Object: f.key, hashValue: f.sha256, hashAlgorithm: DIGEST_HASH_ALGORITHM,
        newestEventTime: f.newestEventTime, oldestEventTime: f.oldestEventTime,
      })),
    };
    const bytes = serializeDigest(digest);
    const hashHex = sha256Hex(bytes);
    const signature = signDigest(signingKey.privateKeyPem, signingString({
      digestEndTime: digest.digestEndTime, bucket: t.S3BucketName, key, digestSha256Hex: hashHex, previousSignature: prev?.signature ?? null,
    }));
    const link: ChainLink = { trailCreatedMs: t.createdMs, endMs, bucket: t.S3BucketName, key, hashHex, signature, ...(final ? { ended: true } : {}) };
    const pending: PendingDigest = { trailCreatedMs: t.createdMs, link, json: bytes.toString('utf8'), fileKeys: files.map((f) => f.key) };
    const chainKey = `${t.TrailARN}|${accountId}|${region}`;
    // Recorded first (fenced): a node that lost the lease writes no digest, and whoever finds this
    // record writes exactly these bytes.
    await this.deps.control.put(DIGEST_PENDING_KIND, chainKey, pending, { fence });
    return this.commit(chainKey, pending, fence);
  }

  /** Writes a recorded digest's object (again, identically), makes it the chain's last link and forgets the files it lists. */
  private async commit(chainKey: string, pending: PendingDigest, fence: Fence | undefined): Promise<ChainLink> {
    const { link } = pending;
    // Digest files are always SSE-S3, whatever the trail's KMS key.
    await this.deps.objects.putObject(link.bucket, link.key, await gzipAsync(Buffer.from(pending.json, 'utf8')), {
      contentType: 'application/json',
      metadata: { [DIGEST_METADATA.signature]: link.signature, [DIGEST_METADATA.algorithm]: DIGEST_SIGNATURE_ALGORITHM },
    });
    await this.forget(chainKey, pending, [{ kind: DIGEST_CHAIN_KIND, key: chainKey, doc: link }], fence);
    return link;
  }

  /**
   * In one fenced transaction: `puts` (the chain's new link), and the delivered-file records the
   * digest lists and the pending record deleted. Interrupted anywhere (kill -9, a database error,
   * the lease lost), either all of it happened or none, so no file is listed in two digests.
   */
  private async forget(chainKey: string, pending: PendingDigest, puts: { kind: string; key: string; doc: unknown }[], fence: Fence | undefined): Promise<void> {
    const deletes = [...pending.fileKeys.map((key) => ({ kind: DELIVERED_FILE_KIND, key })), { kind: DIGEST_PENDING_KIND, key: chainKey }];
    await this.deps.control.putMany(puts, { fence, deletes });
  }
}
