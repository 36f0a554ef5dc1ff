/**
 * CloudTrail Lake imports (StartImport, GetImport, ListImports, ListImportFailures, StopImport):
 * the API over the import engine (src/lake/import/engine.ts). Destination stores are resolved
 * through the `LakeCatalog`; an import and its failures are visible to the account that started it.
 */
import { cloudTrailError } from '../../aws/errors.ts';
import type {
  GetImportRequest, GetImportResponse, ImportFailureListItem, ImportsListItem, ListImportFailuresRequest, ListImportFailuresResponse,
  ListImportsRequest, ListImportsResponse, StartImportRequest, StartImportResponse, StopImportRequest, StopImportResponse,
} from '../../aws/protocol/index.ts';
import type { LakeCatalog, LakeStoreRef } from '../../lake/catalog.ts';
import type { OrganizationConfig } from '../../core/index.ts';
import { ImportSourceError, readableAccounts, type ImportDoc, type ImportEngine } from '../../lake/import/engine.ts';
import { keyAccount } from '../../lake/import/keys.ts';
import type { CallContext } from '../context.ts';

const EDS_ARN = /^arn:aws[a-z-]*:cloudtrail:[a-z0-9-]+:\d{12}:eventdatastore\/[A-Za-z0-9-]{1,128}$/;
const EDS_ID = /^[A-Za-z0-9-]{1,128}$/;
const MAX_RESULTS = 1000;

const seconds = (ms: number | undefined) => (ms === undefined ? undefined : ms / 1000);

function view(d: ImportDoc): Required<Omit<GetImportResponse, 'StartEventTime' | 'EndEventTime'>> & Pick<GetImportResponse, 'StartEventTime' | 'EndEventTime'> {
  return {
    ImportId: d.ImportId,
    Destinations: d.Destinations,
    ImportSource: d.ImportSource,
    ...(d.StartEventTime !== undefined ? { StartEventTime: seconds(d.StartEventTime) } : {}),
    ...(d.EndEventTime !== undefined ? { EndEventTime: seconds(d.EndEventTime) } : {}),
    ImportStatus: d.ImportStatus,
    CreatedTimestamp: d.CreatedTimestamp / 1000,
    UpdatedTimestamp: d.UpdatedTimestamp / 1000,
    ImportStatistics: d.stats,
  };
}

const notFound = (id: string) => cloudTrailError('ImportNotFoundException', `The import ${id} was not found.`);
const badToken = () => cloudTrailError('InvalidNextTokenException', 'The NextToken is not valid.');

export class ImportService {
  private readonly engine: ImportEngine;
  private readonly catalog: LakeCatalog;
  private readonly organization: OrganizationConfig | undefined;

  constructor(engine: ImportEngine, catalog: LakeCatalog, organization?: OrganizationConfig) {
    this.engine = engine;
    this.catalog = catalog;
    this.organization = organization;
  }

  /**
   * The accounts whose trail log files an import of `accountId` reads: its own, and for the
   * organization's management account every member account (whose logs its organization trails
   * write), as AWS lets a trail's owner read what the trail logged.
   */
  private readableAccounts(accountId: string): string[] {
    const org = this.organization;
    return org && org.managementAccountId === accountId ? [accountId, ...org.memberAccountIds] : [accountId];
  }

  /** The caller's import, or ImportNotFoundException (another account's import is not found either). */
  private async own(ctx: CallContext, id: string): Promise<ImportDoc> {
    const d = await this.engine.get(id);
    if (!d || d.accountId !== ctx.accountId) throw notFound(id);
    return d;
  }

  private async destination(ctx: CallContext, value: string): Promise<LakeStoreRef> {
    if (!(value.startsWith('arn:') ? EDS_ARN.test(value) : EDS_ID.test(value))) {
      throw cloudTrailError('EventDataStoreARNInvalidException', `The specified event data store ARN is not valid or does not map to an event data store in your account: ${value}`);
    }
    const ref = await this.catalog.resolve(ctx.accountId, ctx.region, value);
    if (!ref) throw cloudTrailError('EventDataStoreNotFoundException', `The specified event data store ${value} was not found.`);
    if (ref.status === 'PENDING_DELETION') throw cloudTrailError('InactiveEventDataStoreException', `The event data store ${ref.arn} is pending deletion.`);
    return ref;
  }

  async startImport(ctx: CallContext, input: StartImportRequest): Promise<StartImportResponse> {
    if (input.ImportId !== undefined) {
      await this.own(ctx, input.ImportId);
      const r = await this.engine.restart(input.ImportId);
      if (r === undefined) throw notFound(input.ImportId);
      if (r === 'ongoing') throw cloudTrailError('AccountHasOngoingImportException', 'The account has an import in progress; stop it or wait for it to finish before starting another.');
      if (r === 'not-restartable') throw cloudTrailError('InvalidParameterException', `The import ${input.ImportId} cannot be restarted: only a STOPPED or FAILED import can be.`);
      const { ImportStatistics: _s, ...out } = view(r);
      return out;
    }
    if (!input.Destinations || input.Destinations.length === 0) throw cloudTrailError('InvalidParameterException', 'Destinations is required to start a new import.');
    if (!input.ImportSource) throw cloudTrailError('InvalidParameterException', 'ImportSource is required to start a new import.');
    const { StartEventTime: start, EndEventTime: end } = input;
    if (start !== undefined && end !== undefined && start > end) throw cloudTrailError('InvalidParameterException', 'StartEventTime must be before EndEventTime.');
    const destinations: LakeStoreRef[] = [];
    for (const d of input.Destinations) destinations.push(await this.destination(ctx, d));
    const s3 = input.ImportSource.S3;
    try {
      this.engine.checkSource(s3.S3LocationUri, s3.S3BucketRegion);
    } catch (e) {
      if (e instanceof ImportSourceError) throw cloudTrailError('InvalidImportSourceException', e.message);
      throw e;
    }
    const doc = await this.engine.create({
      accountId: ctx.accountId,
      accounts: this.readableAccounts(ctx.accountId),
      region: ctx.region,
      destinations,
      source: { S3: { S3LocationUri: s3.S3LocationUri, S3BucketRegion: s3.S3BucketRegion, S3BucketAccessRoleArn: s3.S3BucketAccessRoleArn } },
      startMs: start === undefined ? undefined : Math.round(start * 1000),
      endMs: end === undefined ? undefined : Math.round(end * 1000),
    });
    if (!doc) throw cloudTrailError('AccountHasOngoingImportException', 'The account has an import in progress; stop it or wait for it to finish before starting another.');
    const { ImportStatistics: _s, ...out } = view(doc);
    return out;
  }

  async getImport(ctx: CallContext, input: GetImportRequest): Promise<GetImportResponse> {
    return view(await this.own(ctx, input.ImportId));
  }

  async stopImport(ctx: CallContext, input: StopImportRequest): Promise<StopImportResponse> {
    await this.own(ctx, input.ImportId);
    const d = await this.engine.stop(input.ImportId);
    if (!d) throw notFound(input.ImportId);
    return view(d);
  }

  async listImports(ctx: CallContext, input: ListImportsRequest): Promise<ListImportsResponse> {
    let destination: string | undefined;
    if (input.Destination !== undefined) {
      if (!(input.Destination.startsWith('arn:') ? EDS_ARN.test(input.Destination) : EDS_ID.test(input.Destination))) {
        throw cloudTrailError('EventDataStoreARNInvalidException', `The specified event data store ARN is not valid or does not map to an event data store in your account: ${input.Destination}`);
      }
      destination = (await this.catalog.resolve(ctx.accountId, ctx.region, input.Destination))?.arn ?? input.Destination;
    }
    const all = (await this.engine.list())
      .filter((d) => d.accountId === ctx.accountId)
      .filter((d) => destination === undefined || d.Destinations.includes(destination))
      .filter((d) => input.ImportStatus === undefined || d.ImportStatus === input.ImportStatus)
      .sort((a, b) => a.CreatedTimestamp - b.CreatedTimestamp || (a.ImportId < b.ImportId ? -1 : 1));
    let from = 0;
    if (input.NextToken !== undefined) {
      from = all.findIndex((d) => d.ImportId === input.NextToken);
      if (from < 0) throw badToken();
    }
    const max = input.MaxResults ?? MAX_RESULTS;
    const page = all.slice(from, from + max);
    const next = all[from + max];
    const Imports: ImportsListItem[] = page.map((d) => ({
      ImportId: d.ImportId, ImportStatus: d.ImportStatus, Destinations: d.Destinations,
      CreatedTimestamp: d.CreatedTimestamp / 1000, UpdatedTimestamp: d.UpdatedTimestamp / 1000,
    }));
    return { Imports, ...(next ? { NextToken: next.ImportId } : {}) };
  }

  async listImportFailures(ctx: CallContext, input: ListImportFailuresRequest): Promise<ListImportFailuresResponse> {
    const d = await this.engine.get(input.ImportId);
    // As for a foreign or unknown import: no failures (the operation has no ImportNotFoundException).
    if (!d || d.accountId !== ctx.accountId) {
      if (input.NextToken !== undefined) throw badToken();
      return { Failures: [] };
    }
    // A failure names a file: never one of an account the import may not read.
    const accounts = new Set(readableAccounts(d));
    const all = (await this.engine.failures(input.ImportId)).filter(({ doc: f }) => {
      const account = keyAccount(f.Location);
      return account === undefined || accounts.has(account);
    });
    let from = 0;
    if (input.NextToken !== undefined) {
      const key = Buffer.from(input.NextToken, 'base64url').toString('utf8');
      from = all.findIndex((f) => f.key === key);
      if (from < 0) throw badToken();
    }
    const max = input.MaxResults ?? MAX_RESULTS;
    const page = all.slice(from, from + max);
    const next = all[from + max];
    const Failures: ImportFailureListItem[] = page.map(({ doc: f }) => ({
      Location: f.Location, Status: f.Status, ErrorType: f.ErrorType, ErrorMessage: f.ErrorMessage, LastUpdatedTime: f.LastUpdatedTime / 1000,
    }));
    return { Failures, ...(next ? { NextToken: Buffer.from(next.key).toString('base64url') } : {}) };
  }
}
