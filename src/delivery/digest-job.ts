/**
 * The digest job: for every trail with log file validation, once per digest period and per
 * (account, region) the trail covers, a signed digest file listing the log files the store
 * confirmed since the previous digest, chained to it (docs/design/delivery.md, spec section 5).
 *
 * MUST: a digest lists only files the store confirmed, and chains to the previous digest of the same
 * trail, account and region; a restart mid-period neither breaks the chain nor skips a period.
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
import { ObjectStoreError, type ControlStore, type ObjectStore } from '../stores/index.ts';

const gzipAsync = promisify(gzip);

/** Control-store kind of a digest chain's last link, keyed `<trail ARN>|<account>|<region>`. */
export const DIGEST_CHAIN_KIND = 'digest-chain';

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

export interface DigestJobDeps {
  control: ControlStore;
  objects: ObjectStore;
  keys: SigningKeyStore;
  clock: Clock;
  logError(msg: string, err?: unknown): void;
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

  /** Writes every digest that is due; passes never overlap. */
  tick(): Promise<void> {
    return this.job.run();
  }

  private async pass(): Promise<void> {
    const trails = (await this.deps.control.list<TrailDoc>(TRAIL_KIND, '')).map((r) => r.doc).filter((t) => t.LogFileValidationEnabled);
    for (const t of trails) {
      const org = this.opts.organization;
      const accounts = t.IsOrganizationTrail && org ? org.memberAccountIds : [t.accountId];
      const regions = t.IsMultiRegionTrail ? this.opts.regions : [t.HomeRegion];
      const status: DigestStatus = {};
      for (const accountId of accounts) {
        for (const region of regions) {
          try {
            if (await this.serve(t, accountId, region)) status.latestDigestDeliveryTimeMs = this.deps.clock.nowMs();
          } catch (e) {
            status.latestDigestDeliveryError = e instanceof ObjectStoreError ? e.code : 'InternalError';
            if (!(e instanceof ObjectStoreError)) this.deps.logError(`digest for ${t.TrailARN} failed`, e);
          }
        }
      }
      if (status.latestDigestDeliveryTimeMs !== undefined || status.latestDigestDeliveryError !== undefined) {
        const prev = (await this.deps.control.get<DigestStatus>(DIGEST_STATUS_KIND, t.TrailARN)) ?? {};
        const next = { ...prev, ...status };
        if (status.latestDigestDeliveryError === undefined) delete next.latestDigestDeliveryError;
        await this.deps.control.put(DIGEST_STATUS_KIND, t.TrailARN, next);
      }
    }
  }

  /** Writes the digests due for one (trail, account, region); true when it wrote any. */
  private async serve(t: TrailDoc, accountId: string, region: string): Promise<boolean> {
    const period = this.opts.periodMs;
    const now = this.deps.clock.nowMs();
    const boundary = Math.floor(now / period) * period;
    const chainKey = `${t.TrailARN}|${accountId}|${region}`;
    const stored = await this.deps.control.get<ChainLink>(DIGEST_CHAIN_KIND, chainKey);
    let link = stored?.trailCreatedMs === t.createdMs ? stored : undefined;
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
        await this.deps.control.put(DIGEST_CHAIN_KIND, chainKey, { ...link, ended: true });
        return false;
      }
    }
    let startMs: number;
    if (!link || link.ended) {
      const started = t.startLoggingTimeMs ?? boundary - period;
      startMs = Math.max(started, boundary - period);
      if (startMs >= boundary) return false;
      link = undefined;
    } else {
      startMs = link.endMs;
    }
    // One digest per period, also for periods with no log files, catching up after downtime.
    while (startMs < target) {
      const endMs = Math.min(target, Math.floor(startMs / period) * period + period);
      link = await this.write(t, accountId, region, link, endMs, !t.isLogging && endMs >= target, startMs);
      startMs = endMs;
      wrote = true;
    }
    return wrote;
  }

  private async write(t: TrailDoc, accountId: string, region: string, prev: ChainLink | undefined, endMs: number, final: boolean, startMs = prev?.endMs ?? endMs): Promise<ChainLink> {
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
    // Digest files are always SSE-S3, whatever the trail's KMS key.
    await this.deps.objects.putObject(t.S3BucketName, key, await gzipAsync(bytes), {
      contentType: 'application/json',
      metadata: { [DIGEST_METADATA.signature]: signature, [DIGEST_METADATA.algorithm]: DIGEST_SIGNATURE_ALGORITHM },
    });
    const link: ChainLink = { trailCreatedMs: t.createdMs, endMs, bucket: t.S3BucketName, key, hashHex, signature, ...(final ? { ended: true } : {}) };
    await this.deps.control.put(DIGEST_CHAIN_KIND, `${t.TrailARN}|${accountId}|${region}`, link);
    for (const f of files) await this.deps.control.delete(DELIVERED_FILE_KIND, f.key);
    return link;
  }
}
