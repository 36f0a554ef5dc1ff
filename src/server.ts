/**
 * Composition root of the server: picks the drivers (the database's in src/server-database.ts),
 * wires services, HTTP and jobs, and shuts everything down in order (stop accepting, finish
 * requests, drain the ingester, close stores).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomIds, systemClock, type Clock, type Identity, type IdSource } from './core/index.ts';
import { DataDirLock, type OpenTrailConfig } from './config/index.ts';
import { openDatabase, type OpenedDatabase } from './server-database.ts';
import { FsObjectStore } from './stores/fs/index.ts';
import { S3ObjectStore } from './stores/s3/index.ts';
import { callDeadlineMs, CloudWatchLogsSink, SnsTopicDirectory, SnsTopicPublisher } from './stores/aws/index.ts';
import { FetchWebhookPoster } from './stores/http/index.ts';
import { TrailService } from './services/cloudtrail/trails.ts';
import { TagService } from './services/cloudtrail/tags.ts';
import { Ingester } from './ingest/index.ts';
import { NextTokenCodec, startRetentionJob } from './history/index.ts';
import { ChannelService } from './services/cloudtrail/channels.ts';
import { EventDataStoreService } from './services/cloudtrail/event-data-stores.ts';
import { ResourcePolicyService } from './services/cloudtrail/resource-policies.ts';
import { createCloudTrailProvider } from './services/cloudtrail/provider.ts';
import { createApp } from './http/app.ts';
import { assertPortFree } from './http/port-check.ts';
import { AfterDelivery, DeliveryWorker, DigestJob } from './delivery/index.ts';
import { ANALYSIS_KEY, INSIGHTS_STATE_KIND, InsightsAnalysis, type AnalysisState } from './insights/index.ts';
import { InsightsService } from './services/cloudtrail/insights.ts';
import { PublicKeyService } from './services/cloudtrail/public-keys.ts';
import { QueryService } from './services/cloudtrail/queries.ts';
import { QueryResultsDelivery } from './services/cloudtrail/query-delivery.ts';
import { LakeQueryEngine } from './lake/query/engine.ts';
import type { LakeCatalog } from './lake/catalog.ts';
import { ControlStoreLakeCatalog } from './lake/catalog-store.ts';
import { createGateway } from './capture/gateway/index.ts';
import { apiCallRecorder } from './capture/self-audit.ts';
import { BodyBudget } from './aws/body.ts';
import { createRealtime } from './server-realtime.ts';
import { componentErrorLog, createLogger, createMetricsListener, factsLogger, cursorLag, deliveryLags, digestLags, lakeIngestLags, ServerMetrics, type Logger } from './observability/index.ts';
import { LakeIngestWorker, lazyDuckDB, startLakeRetentionJob } from './lake/ingest/index.ts';
import { createLakeImports } from './server-lake-imports.ts';
import { startLakeCompaction } from './server-lake-compaction.ts';

/**
 * The delivery stall test hook: while the file named by OPENTRAIL_TEST_DELIVERY_STALL_FILE exists,
 * each batch waits the milliseconds it holds between its intent and its files.
 */
function deliveryStallHook(file: string | undefined): (() => number) | undefined {
  if (!file) return undefined;
  return () => {
    try {
      return Number(readFileSync(file, 'utf8')) || 0;
    } catch {
      return 0;
    }
  };
}

export interface RunningServer {
  url: string;
  /** The recording gateway's address, when `gateway` is configured. */
  gatewayUrl?: string;
  /** Where GET /metrics is served (the API's URL unless `metrics.port`); undefined when metrics are off. */
  metricsUrl?: string;
  /** The JSON-lines log (docs/operations.md). */
  logger: Logger;
  config: OpenTrailConfig;
  /** Set when the server created or reused the first-start account. */
  bootstrap?: { accountId: string; accessKeyId: string; credentialsFile: string; created: boolean };
  close(): Promise<void>;
}

export interface StartOptions {
  clock?: Clock;
  ids?: IdSource;
  /** Every failure message, instead of the JSON log's error lines (default: those). */
  logError?: (msg: string, err?: unknown) => void;
  /** The JSON-lines log (default: stdout at config.logLevel). */
  logger?: Logger;
  /** How long shutdown waits for busy connections before cutting them. */
  shutdownGraceMs?: number;
  /** The event data stores Lake queries and imports read (default: the control store's, `ControlStoreLakeCatalog`). */
  lakeCatalog?: LakeCatalog;
}

export async function startServer(config: OpenTrailConfig, opts: StartOptions = {}): Promise<RunningServer> {
  const clock = opts.clock ?? systemClock;
  const ids = opts.ids ?? randomIds;
  const shutdownGraceMs = opts.shutdownGraceMs ?? 5000;
  const logger = opts.logger ?? createLogger(config.logLevel);
  // Nothing is written to the data dir before the ports are known to be free and the data dir's
  // lock is held (one server per data dir: src/config/data-dir-lock.ts).
  DataDirLock.assertFree(config.dataDir);
  await assertPortFree(config.host, config.port, '--port');
  if (config.gateway) await assertPortFree(config.gateway.host, config.gateway.port, 'gateway.port');
  if (config.metrics.enabled && config.metrics.port !== undefined) await assertPortFree(config.host, config.metrics.port, 'metrics.port');
  const lock = DataDirLock.acquire(config.dataDir, clock.nowMs());
  try {
    const server = await startLocked(config, { clock, ids, shutdownGraceMs, logger, logError: opts.logError, lakeCatalog: opts.lakeCatalog });
    lock.setUrl(server.url, server.metricsUrl);
    const close = server.close;
    let closed: Promise<void> | undefined;
    return { ...server, close: () => (closed ??= close().finally(() => lock.release())) };
  } catch (e) {
    lock.release();
    throw e;
  }
}

type StartParts = Required<Omit<StartOptions, 'shutdownGraceMs' | 'logError' | 'lakeCatalog'>> & Pick<StartOptions, 'logError' | 'lakeCatalog'> & { shutdownGraceMs: number };

async function startLocked(config: OpenTrailConfig, { clock, ids, shutdownGraceMs, logger, logError: logAll, lakeCatalog }: StartParts): Promise<RunningServer> {
  // The stores and the state the nodes of a deployment share (src/server-database.ts).
  const db = await openDatabase(config, { clock, logError: logAll ?? componentErrorLog(logger, 'database') });
  // What is started is stopped again, last first, when the start fails after it (a listener's port
  // taken meanwhile, ...): no job left running, no database connection left open.
  const started: (() => unknown)[] = [() => db.close()];
  try {
    return await startOn(db, started, config, { clock, ids, shutdownGraceMs, logger, logError: logAll, lakeCatalog });
  } catch (e) {
    for (const stop of started.reverse()) {
      try {
        await stop();
      } catch {
        // Stopping what a failed start left is best effort: the start's own error is what to report.
      }
    }
    throw e;
  }
}

async function startOn(db: OpenedDatabase, started: (() => unknown)[], config: OpenTrailConfig, { clock, ids, shutdownGraceMs, logger, logError: logAll, lakeCatalog }: StartParts): Promise<RunningServer> {
  const { events: store, control, signingKeys, bootstrap: b, leases } = db;
  const tokens = new NextTokenCodec(db.tokenKey);
  const accounts = b ? [b.account] : config.accounts;
  const bootstrap: RunningServer['bootstrap'] = b && { accountId: b.account.id, accessKeyId: b.account.identities[0]!.accessKeyId, credentialsFile: b.credentialsFile, created: b.created };
  const identities = new Map<string, Identity>();
  for (const a of accounts) for (const i of a.identities) identities.set(i.accessKeyId, i);

  // Observability (docs/operations.md): Prometheus metrics fed by read-only hooks, and every
  // component's failures as JSON log lines with their cause (counted by component).
  const metrics = config.metrics.enabled
    ? new ServerMetrics({ events: store, dataDir: config.dataDir, clock, writable: () => !ingester.unavailable() })
    : undefined;
  const errorLog = (component: string) => logAll ?? componentErrorLog(logger, component, metrics && ((c) => metrics.backgroundError(c)));
  const noteLog = (component: string) => (message: string) => (logAll ? logAll(message) : logger.warn({ component }, message));
  metrics?.addConsumer('delivery', deliveryLags(store, control, () => clock.nowMs()));
  metrics?.addConsumer('digest', digestLags(control, config.integrity.digestPeriodMs, () => clock.nowMs()));
  const metricsListener = metrics && config.metrics.port !== undefined ? createMetricsListener(() => metrics.scrape(), (e) => errorLog('metrics')('metrics could not be collected', e), config.database.type === 'postgres' ? () => healthReport() : undefined) : undefined;
  // Real time (src/server-realtime.ts): EventBridge forwarding, built-in rules, the live tail; woken by every commit.
  const realtime = await createRealtime(config, { events: store, control, clock, leases, logError: errorLog, hooks: metrics });
  started.push(() => realtime.close(0));
  metrics?.addConsumer('realtime', () => realtime.lags(clock.nowMs()));
  metrics?.addGauge('opentrail_live_tail_streams', 'Live tails (GET /events/stream) open now.', () => realtime.tail.size);
  const ingester = new Ingester(store, {
    maxBatchEvents: config.ingest.maxBatchEvents, log: noteLog('ingest'),
    observer: {
      appended: (...a) => metrics?.appended(...a),
      committed: (events, seconds, ok) => {
        metrics?.committed(events, seconds, ok);
        if (ok) realtime.committed();
      },
    },
  });
  const channels = new ChannelService(control, ids);
  const os = config.objectStore;
  const objects = os.type === 's3' ? new S3ObjectStore(os) : new FsObjectStore(os.root ?? join(config.dataDir, 'buckets'));
  if (objects instanceof S3ObjectStore) started.push(() => objects.destroy());
  if (os.type === 'filesystem') mkdirSync(os.root ?? join(config.dataDir, 'buckets'), { recursive: true });
  const topics = config.sns ? new SnsTopicDirectory(config.sns) : undefined;
  started.push(() => topics?.destroy());
  const trails = new TrailService({ store: control, events: store, objects, topics, organization: config.organization, regions: config.regions, tokens });
  const eventDataStores = new EventDataStoreService({ store: control, events: store, ids, organization: config.organization });
  // CloudTrail Lake (docs/lake.md): the stores' files under the Lake root; who may read which store.
  const lakeRoot = config.lake.root ?? join(config.dataDir, 'lake');
  mkdirSync(lakeRoot, { recursive: true });
  const catalog = lakeCatalog ?? new ControlStoreLakeCatalog(control, lakeRoot);
  const lakeImports = createLakeImports(config, { control, catalog, clock, ids, logError: errorLog('lake-import'), leases });
  started.push(() => lakeImports.close());
  // CloudTrail Lake queries (src/lake/query): results in the data dir, records in the control store.
  const lakeQueries = new LakeQueryEngine(
    { catalog, control, resultsDir: join(config.dataDir, 'lake-query-results'), nowMs: () => clock.nowMs(), newId: () => randomUUID(), logError: errorLog('lake-query'), deliver: (r) => queryDelivery.deliver(r) },
    config.lakeQueries,
  );
  // DeliveryS3Uri: results copied to the trails' bucket store, signed with the Regions' keys.
  const queryDelivery = new QueryResultsDelivery({ engine: lakeQueries, objects, keys: signingKeys, nowMs: () => clock.nowMs(), defaultRegion: config.regions[0]! });
  started.push(() => lakeQueries.close());
  const provider = createCloudTrailProvider({
    history: { store, tokens, retentionDays: config.eventHistory.retentionDays },
    channels,
    trails,
    tags: new TagService(trails, channels, eventDataStores),
    eventDataStores,
    resourcePolicies: new ResourcePolicyService(control, channels, eventDataStores),
    publicKeys: new PublicKeyService({ keys: signingKeys, tokens }),
    insights: new InsightsService({ control, trails, history: { store, tokens, retentionDays: config.eventHistory.retentionDays }, intervalMs: config.insights.intervalMs }),
    queries: new QueryService({ engine: lakeQueries, catalog, tokens, objects, templates: config.lakeQueries.templates }),
    imports: lakeImports.service,
  });
  // One budget of body bytes in flight for both listeners (API edge and gateway): src/aws/body.ts.
  const bodyBudget = new BodyBudget(config.ingest.maxInFlightBodyBytes);
  const app = createApp({
    auth: { identities, regions: new Set(config.regions), nowMs: () => clock.nowMs() },
    provider,
    putAuditEvents: { channels, ingester, ids, logError: errorLog('api') },
    ingester,
    store,
    ids,
    clock,
    limits: config.ingest,
    historyRetentionDays: config.eventHistory.retentionDays,
    budget: bodyBudget,
    onInternalError: (err) => errorLog('api')('internal error', err),
    log: noteLog('api'),
    logger: logAll ? undefined : logger,
    requestLogger: logAll ? undefined : factsLogger(logger, {}),
    observeRequest: metrics && ((operation, status, seconds) => metrics.request(operation, status, seconds)),
    metrics: metrics && !metricsListener ? () => metrics.scrape() : undefined,
    metricsCallers: config.metrics.apiPortCallers,
    console: config.console.enabled ? { sessionMinutes: config.console.sessionMinutes } : undefined,
    ...(config.database.type === 'postgres' ? { health: () => healthReport() } : {}),
    eventStream: { tail: realtime.tail },
    selfAudit: { readRecords: config.selfAudit.readRecords, logRecordFailure: errorLog('self-audit') },
  });
  const publisher = config.sns ? new SnsTopicPublisher(config.sns, config.sns) : undefined;
  const logSink = config.cloudWatchLogs ? new CloudWatchLogsSink(config.cloudWatchLogs, config.cloudWatchLogs) : undefined;
  started.push(() => publisher?.destroy(), () => logSink?.destroy());
  const afterDelivery = new AfterDelivery({
    control, clock, logError: errorLog('after-delivery'), topics: publisher, logs: logSink,
    onOutcome: metrics && ((target, code) => metrics.notification(target, code)),
    webhooks: config.webhooks?.length ? { poster: new FetchWebhookPoster(), targets: config.webhooks } : undefined,
  }, {
    queueLength: config.delivery.targetQueueLength,
    queueBytes: config.delivery.targetQueueBytes,
    ...(config.sns ? { snsCallTimeoutMs: callDeadlineMs(config.sns) } : {}),
    ...(config.cloudWatchLogs ? { logsCallTimeoutMs: callDeadlineMs(config.cloudWatchLogs) } : {}),
  });
  // CloudTrail Lake: each event data store a consumer of the log, writing Parquet files.
  const lakeDuck = lazyDuckDB();
  started.push(() => lakeDuck.close());
  const lakeIngest = new LakeIngestWorker(
    { events: store, control, clock, duck: lakeDuck.connection, logError: errorLog('lake-ingest'), leases },
    { root: lakeRoot, maxAgeMs: config.lake.maxAgeMs, maxBytes: config.lake.maxBytes, pollMs: config.lake.pollMs, readBatch: 2000, regions: config.regions, organization: config.organization },
  );
  metrics?.addConsumer('lake', lakeIngestLags(store, control, () => clock.nowMs()));
  const delivery = new DeliveryWorker(
    { events: store, control, objects: metrics ? metrics.countWrites(objects, 'log_files') : objects, clock, logError: errorLog('delivery'), logRefused: noteLog('delivery'), afterDelivery, leases },
    { ...config.delivery, readBatch: 2000, regions: config.regions, organization: config.organization, stallAfterIntentMs: deliveryStallHook(process.env.OPENTRAIL_TEST_DELIVERY_STALL_FILE) },
  );
  // CloudTrail Insights (docs/insights.md): one consumer of the log; its records go through the front door.
  const insights = new InsightsAnalysis(
    { events: store, control, ingester, clock, ids, logError: errorLog('insights'), leases },
    { ...config.insights, regions: config.regions, organization: config.organization, pollMs: Math.min(1000, config.insights.intervalMs), readBatch: 2000, maxEventsPerPass: 50_000 },
  );
  metrics?.addConsumer('insights', cursorLag(ANALYSIS_KEY, store, async () => {
    // Reported while it analyses (some trail has Insights selectors).
    const s = await control.get<AnalysisState>(INSIGHTS_STATE_KIND, ANALYSIS_KEY);
    return s && Object.keys(s.since).length > 0 ? s : undefined;
  }, () => clock.nowMs()));
  const digests = new DigestJob(
    { control, objects: metrics ? metrics.countWrites(objects, 'digests') : objects, keys: signingKeys, clock, logError: errorLog('digest'), logRefused: noteLog('digest'), leases },
    { periodMs: config.integrity.digestPeriodMs, regions: config.regions, organization: config.organization },
  );

  const gw = config.gateway;
  // The per-call line holds only the gateway's own facts: no redaction pass (src/observability/log.ts).
  const gatewayLog = gw && !logAll ? factsLogger(logger, { component: 'gateway' }) : undefined;
  const gateway = gw
    ? createGateway(
      {
        identities, regions: new Set(config.regions), clock, ids, record: apiCallRecorder(ingester, ids, 'gateway'), logError: errorLog('gateway'), budget: bodyBudget,
        // One metrics observation and one log line per call, as for the API's requests.
        observe: (c) => {
          metrics?.gatewayCall(c.service, c.outcome);
          gatewayLog?.info({ ...c, seconds: undefined, ms: Math.round(c.seconds * 1e5) / 100 }, 'gateway call');
        },
      },
      { upstreams: { services: gw.services, default: gw.upstream }, maxBodyBytes: gw.maxBodyBytes, maxUnverifiedBodyBytes: config.ingest.maxUnverifiedBodyBytes, recordBeforeAnswer: gw.recordBeforeAnswer, pathStyleHosts: gw.hostnames },
    )
    : undefined;

  // (Fastify's own line about it must not say "listening": scripts wait for the banner's word.)
  await app.listen({ host: config.host, port: config.port, listenTextResolver: (address) => `API port open at ${address}` });
  started.push(() => app.close());
  if (gateway && gw) {
    await new Promise<void>((resolve, reject) => {
      gateway.once('error', reject);
      gateway.listen(gw.port, gw.host, () => {
        gateway.off('error', reject);
        resolve();
      });
    });
    started.push(() => new Promise((resolve) => gateway.close(resolve)));
  }
  if (metricsListener) {
    await new Promise<void>((resolve, reject) => {
      metricsListener.once('error', reject);
      metricsListener.listen(config.metrics.port, config.host, () => {
        metricsListener.off('error', reject);
        resolve();
      });
    });
  }
  // The background work starts once every listener is up (nothing is left to fail).
  const retention = startRetentionJob(store, clock, config.eventHistory.retentionDays, config.eventHistory.pruneIntervalMs, (e) => errorLog('retention')('retention job failed', e), leases);
  const lakeRetention = startLakeRetentionJob(control, lakeRoot, clock, config.lake.retentionIntervalMs, (e) => errorLog('lake-retention')('lake retention job failed', e), leases);
  const lakeCompaction = startLakeCompaction(config, { root: lakeRoot, control, clock, leases, logError: errorLog('lake-compaction') });
  leases.start();
  delivery.start();
  insights.start();
  lakeIngest.start();
  digests.start();
  realtime.start();
  lakeImports.engine.start();
  const urlOf = (a: AddressInfo) => `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`;
  const node = { host: hostname(), pid: process.pid, startedAt: new Date(clock.nowMs()).toISOString() };
  const healthReport = async () => {
    const database = await db.status();
    // The database answers again: the event store's failing state ends with a probe write.
    if (database.status === 'ok' && ingester.unavailable()) await ingester.probe().catch(() => undefined);
    const status: 'ok' | 'unavailable' = database.status === 'ok' && !ingester.unavailable() ? 'ok' : 'unavailable';
    return { status, node: { ...node, url: urlOf(app.server.address() as AddressInfo) }, database };
  };
  const addr = app.server.address() as AddressInfo;
  const gatewayAddr = gateway?.address() as AddressInfo | undefined;
  const metricsAddr = metricsListener?.address() as AddressInfo | undefined;

  let closing: Promise<void> | undefined;
  return {
    url: urlOf(addr),
    gatewayUrl: gatewayAddr ? urlOf(gatewayAddr) : undefined,
    metricsUrl: metrics ? `${urlOf(metricsAddr ?? addr)}/metrics` : undefined,
    logger,
    config: { ...config, accounts, port: addr.port, ...(gw && gatewayAddr ? { gateway: { ...gw, port: gatewayAddr.port } } : {}) },
    bootstrap,
    close: () => {
      closing ??= (async () => {
        const retentionStopped = retention.stop();
        const lakeRetentionStopped = lakeRetention.stop();
        const lakeCompactionStopped = lakeCompaction?.stop();
        // In-flight requests finish; connections still busy after the grace period are cut.
        const force = setTimeout(() => {
          app.server.closeAllConnections();
          gateway?.closeAllConnections();
        }, shutdownGraceMs);
        const gatewayClosed = gateway ? new Promise<void>((resolve) => gateway.close(() => resolve())) : undefined;
        gateway?.closeIdleConnections();
        metricsListener?.closeAllConnections();
        const metricsClosed = metricsListener ? new Promise<void>((resolve) => metricsListener.close(() => resolve())) : undefined;
        await app.close();
        await gatewayClosed;
        await metricsClosed;
        clearTimeout(force);
        await insights.stop();
        await ingester.drain();
        await delivery.stop();
        await lakeIngest.stop();
        await lakeRetentionStopped;
        await lakeCompactionStopped;
        lakeDuck.close();
        await afterDelivery.close(config.delivery.drainTimeoutMs);
        await digests.stop();
        await realtime.close(config.delivery.drainTimeoutMs);
        await lakeImports.close();
        await retentionStopped;
        await lakeQueries.close();
        await db.close();
        if (objects instanceof S3ObjectStore) objects.destroy();
        topics?.destroy();
        publisher?.destroy();
        logSink?.destroy();
      })();
      return closing;
    },
  };
}
