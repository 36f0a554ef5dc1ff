/**
 * CloudTrail Lake queries on the wire: StartQuery, DescribeQuery, GetQueryResults, ListQueries,
 * CancelQuery, over the query engine (src/lake/query). docs/lake.md "Queries".
 *
 * Not supported, and answered so: `QueryAlias` / `QueryParameters` (they name query templates of
 * CloudTrail Lake dashboards, which OpenTrail does not have) and `DeliveryS3Uri` (results are kept
 * by the server for 7 days and paged with GetQueryResults; nothing is copied to a bucket).
 */
import { cloudTrailError } from '../../aws/errors.ts';
import type {
  CancelQueryRequest, CancelQueryResponse, DescribeQueryRequest, DescribeQueryResponse, GetQueryResultsRequest, GetQueryResultsResponse,
  ListQueriesRequest, ListQueriesResponse, StartQueryRequest, StartQueryResponse,
} from '../../aws/protocol/index.ts';
import type { NextTokenCodec } from '../../history/index.ts';
import type { LakeCatalog } from '../../lake/catalog.ts';
import { queryNotFound, type LakeQueryEngine, type LakeQueryRecord } from '../../lake/query/engine.ts';
import type { CallContext } from '../context.ts';

export interface QueryServiceDeps {
  engine: LakeQueryEngine;
  catalog: LakeCatalog;
  tokens: NextTokenCodec;
}

const DEFAULT_RESULTS_PAGE = 1000;
const DEFAULT_LIST_PAGE = 1000;

export class QueryService {
  private readonly deps: QueryServiceDeps;

  constructor(deps: QueryServiceDeps) {
    this.deps = deps;
  }

  async startQuery(ctx: CallContext, input: StartQueryRequest): Promise<StartQueryResponse> {
    if (input.DeliveryS3Uri !== undefined) {
      throw cloudTrailError('UnsupportedOperationException', 'OpenTrail does not deliver query results to S3 (DeliveryS3Uri); page them with GetQueryResults.');
    }
    if (input.QueryAlias !== undefined || input.QueryParameters !== undefined) {
      throw cloudTrailError('InvalidParameterException', 'QueryAlias and QueryParameters name dashboard query templates, which OpenTrail does not have; send QueryStatement.');
    }
    if (input.QueryStatement === undefined) throw cloudTrailError('InvalidParameterException', 'QueryStatement is required.');
    const r = await this.deps.engine.start(ctx.accountId, ctx.region, input.QueryStatement);
    return { QueryId: r.queryId, ...(input.EventDataStoreOwnerAccountId ? { EventDataStoreOwnerAccountId: input.EventDataStoreOwnerAccountId } : {}) };
  }

  async describeQuery(ctx: CallContext, input: DescribeQueryRequest): Promise<DescribeQueryResponse> {
    if (input.QueryAlias !== undefined || input.RefreshId !== undefined) {
      throw cloudTrailError('InvalidParameterException', 'QueryAlias and RefreshId name dashboard refreshes, which OpenTrail does not have; send QueryId.');
    }
    if (input.QueryId === undefined) throw cloudTrailError('InvalidParameterException', 'QueryId is required.');
    const r = await this.record(ctx, input.QueryId, input.EventDataStore);
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
