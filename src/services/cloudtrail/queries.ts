/**
 * CloudTrail Lake queries on the wire: StartQuery, DescribeQuery, GetQueryResults, ListQueries,
 * CancelQuery, over the query engine (src/lake/query). docs/lake.md "Queries".
 *
 * `QueryAlias` / `QueryParameters` run an operator's query template (query-templates.ts);
 * `DeliveryS3Uri` copies the results to a bucket once the query finished (query-delivery.ts).
 * DescribeQuery's `RefreshId` (dashboard refreshes) is refused: OpenTrail has no dashboards.
 */
import { cloudTrailError } from '../../aws/errors.ts';
import type {
  CancelQueryRequest, CancelQueryResponse, DescribeQueryRequest, DescribeQueryResponse, GetQueryResultsRequest, GetQueryResultsResponse,
  ListQueriesRequest, ListQueriesResponse, StartQueryRequest, StartQueryResponse,
} from '../../aws/protocol/index.ts';
import type { NextTokenCodec } from '../../history/index.ts';
import type { LakeCatalog } from '../../lake/catalog.ts';
import { DESCRIBE_WAIT_MS, queryNotFound, type LakeQueryEngine, type LakeQueryRecord } from '../../lake/query/engine.ts';
import type { ObjectStore } from '../../stores/index.ts';
import type { CallContext } from '../context.ts';
import { checkDeliveryTarget } from './query-delivery.ts';
import { statementOf } from './query-templates.ts';

export interface QueryServiceDeps {
  engine: LakeQueryEngine;
  catalog: LakeCatalog;
  tokens: NextTokenCodec;
  /** Where DeliveryS3Uri buckets are (absent: DeliveryS3Uri is refused). */
  objects?: ObjectStore;
  /** QueryAlias -> statement with `?` placeholders (`lakeQueries.templates`). */
  templates?: Readonly<Record<string, string>>;
}

const DEFAULT_RESULTS_PAGE = 1000;
const DEFAULT_LIST_PAGE = 1000;

export class QueryService {
  private readonly deps: QueryServiceDeps;

  constructor(deps: QueryServiceDeps) {
    this.deps = deps;
  }

  async startQuery(ctx: CallContext, input: StartQueryRequest): Promise<StartQueryResponse> {
    const statement = statementOf(input, this.deps.templates ?? {});
    if (input.DeliveryS3Uri !== undefined) {
      if (!this.deps.objects) throw cloudTrailError('UnsupportedOperationException', 'This server has no bucket store to deliver query results to (DeliveryS3Uri).');
      await checkDeliveryTarget(this.deps.objects, input.DeliveryS3Uri, ctx.accountId, ctx.region);
    }
    const r = await this.deps.engine.start(ctx.accountId, ctx.region, statement, {
      ...(input.DeliveryS3Uri !== undefined ? { deliveryS3Uri: input.DeliveryS3Uri } : {}),
      ...(input.QueryAlias !== undefined ? { queryAlias: input.QueryAlias } : {}),
    });
    return { QueryId: r.queryId, ...(input.EventDataStoreOwnerAccountId ? { EventDataStoreOwnerAccountId: input.EventDataStoreOwnerAccountId } : {}) };
  }

  async describeQuery(ctx: CallContext, input: DescribeQueryRequest): Promise<DescribeQueryResponse> {
    if (input.RefreshId !== undefined) {
      throw cloudTrailError('InvalidParameterException', 'RefreshId names a dashboard refresh, which OpenTrail does not have; send QueryId, or QueryAlias alone.');
    }
    if (input.QueryId !== undefined && input.QueryAlias !== undefined) throw cloudTrailError('InvalidParameterException', 'Specify either QueryId or QueryAlias, not both.');
    if (input.QueryId === undefined && input.QueryAlias === undefined) throw cloudTrailError('InvalidParameterException', 'QueryId or QueryAlias is required.');
    // A query running here answers the moment it ends (up to DESCRIBE_WAIT_MS), not a poll later.
    if (input.QueryId !== undefined) await this.deps.engine.settled(ctx.accountId, input.QueryId, DESCRIBE_WAIT_MS);
    const r = input.QueryId !== undefined ? await this.record(ctx, input.QueryId, input.EventDataStore) : await this.lastOfAlias(ctx, input.QueryAlias!);
    return {
      QueryId: r.queryId,
      QueryString: r.statement,
      QueryStatus: r.status,
      QueryStatistics: {
        EventsMatched: r.resultsCount,
        EventsScanned: r.eventsScanned,
        BytesScanned: r.bytesScanned,
        ExecutionTimeInMillis: r.executionTimeMs,
        CreationTime: r.creationTimeMs / 1000,
      },
      ...(r.errorMessage ? { ErrorMessage: r.errorMessage } : {}),
      ...(r.deliveryS3Uri !== undefined ? { DeliveryS3Uri: r.deliveryS3Uri, DeliveryStatus: r.deliveryStatus ?? 'UNKNOWN' } : {}),
      ...(input.EventDataStoreOwnerAccountId ? { EventDataStoreOwnerAccountId: input.EventDataStoreOwnerAccountId } : {}),
    };
  }

  async getQueryResults(ctx: CallContext, input: GetQueryResultsRequest): Promise<GetQueryResultsResponse> {
    const r = await this.record(ctx, input.QueryId, input.EventDataStore);
    const binding = { accountId: ctx.accountId, region: ctx.region, query: JSON.stringify(['GetQueryResults', r.queryId]) };
    let offset = 0;
    if (input.NextToken !== undefined) {
      const pos = this.deps.tokens.decode(input.NextToken, binding);
      if (!pos) throw cloudTrailError('InvalidNextTokenException', 'The NextToken is not valid.');
      offset = pos.t;
    }
    const limit = input.MaxQueryResults ?? DEFAULT_RESULTS_PAGE;
    const out: GetQueryResultsResponse = { QueryStatus: r.status };
    if (r.errorMessage) out.ErrorMessage = r.errorMessage;
    if (r.status !== 'FINISHED') {
      out.QueryStatistics = { ResultsCount: 0, TotalResultsCount: 0, BytesScanned: r.bytesScanned };
      out.QueryResultRows = [];
      return out;
    }
    const rows = await this.deps.engine.page(r, offset, limit);
    const columns = r.columns ?? [];
    // Each row a list of one-member maps, column by column; a NULL value's member is left out.
    out.QueryResultRows = rows.map((row) => row.flatMap((v, i) => (v === null ? [] : [{ [columns[i] ?? `_col${i}`]: v }])));
    out.QueryStatistics = { ResultsCount: rows.length, TotalResultsCount: r.resultsCount, BytesScanned: r.bytesScanned };
    if (offset + rows.length < r.resultsCount) out.NextToken = this.deps.tokens.encode({ t: offset + rows.length, seq: 0 }, binding);
    return out;
  }

  async listQueries(ctx: CallContext, input: ListQueriesRequest): Promise<ListQueriesResponse> {
    const store = await this.deps.catalog.resolve(ctx.accountId, ctx.region, input.EventDataStore);
    if (!store) throw cloudTrailError('EventDataStoreNotFoundException', `The event data store ${input.EventDataStore} was not found.`);
    const startMs = input.StartTime === undefined ? undefined : input.StartTime * 1000;
    const endMs = input.EndTime === undefined ? undefined : input.EndTime * 1000;
    if (startMs !== undefined && endMs !== undefined && startMs > endMs) throw cloudTrailError('InvalidDateRangeException', 'StartTime must be earlier than or equal to EndTime.');
    const binding = { accountId: ctx.accountId, region: ctx.region, query: JSON.stringify(['ListQueries', store.arn, input.StartTime ?? null, input.EndTime ?? null, input.QueryStatus ?? null]) };
    let offset = 0;
    if (input.NextToken !== undefined) {
      const pos = this.deps.tokens.decode(input.NextToken, binding);
      if (!pos) throw cloudTrailError('InvalidNextTokenException', 'The NextToken is not valid.');
      offset = pos.t;
    }
    const all = (await this.deps.engine.list(ctx.accountId)).filter((q) =>
      q.storeArns.includes(store.arn) &&
      (startMs === undefined || q.creationTimeMs >= startMs) &&
      (endMs === undefined || q.creationTimeMs <= endMs) &&
      (input.QueryStatus === undefined || q.status === input.QueryStatus));
    const limit = input.MaxResults ?? DEFAULT_LIST_PAGE;
    const page = all.slice(offset, offset + limit);
    const out: ListQueriesResponse = { Queries: page.map((q) => ({ QueryId: q.queryId, QueryStatus: q.status, CreationTime: q.creationTimeMs / 1000 })) };
    if (offset + limit < all.length) out.NextToken = this.deps.tokens.encode({ t: offset + limit, seq: 0 }, binding);
    return out;
  }

  async cancelQuery(ctx: CallContext, input: CancelQueryRequest): Promise<CancelQueryResponse> {
    await this.record(ctx, input.QueryId, input.EventDataStore);
    const r = await this.deps.engine.cancel(ctx.accountId, input.QueryId);
    return { QueryId: r.queryId, QueryStatus: r.status, ...(input.EventDataStoreOwnerAccountId ? { EventDataStoreOwnerAccountId: input.EventDataStoreOwnerAccountId } : {}) };
  }

  /** DescribeQuery by QueryAlias: the caller's newest query run from that alias. */
  private async lastOfAlias(ctx: CallContext, alias: string): Promise<LakeQueryRecord> {
    const r = (await this.deps.engine.list(ctx.accountId)).find((q) => q.queryAlias === alias);
    if (!r) throw cloudTrailError('QueryIdNotFoundException', `No query was run for the query alias ${alias}.`);
    return r;
  }

  /** The caller's query; with the deprecated EventDataStore member, that store must exist and be one the query read. */
  private async record(ctx: CallContext, queryId: string, storeName: string | undefined): Promise<LakeQueryRecord> {
    if (storeName !== undefined) {
      const store = await this.deps.catalog.resolve(ctx.accountId, ctx.region, storeName);
      if (!store) throw cloudTrailError('EventDataStoreNotFoundException', `The event data store ${storeName} was not found.`);
      const r = await this.deps.engine.get(ctx.accountId, queryId);
      if (!r || !r.storeArns.includes(store.arn)) throw queryNotFound(queryId);
      return r;
    }
    const r = await this.deps.engine.get(ctx.accountId, queryId);
    if (!r) throw queryNotFound(queryId);
    return r;
  }
}
