/**
 * LogGroupSink on CloudWatch Logs (or a compatible endpoint such as moto) via
 * @aws-sdk/client-cloudwatch-logs. A log group is written in the region its ARN names, through the
 * configured endpoint and credentials (the trail's CloudWatchLogsRoleArn is not assumed).
 */
import { CloudWatchLogsClient, CreateLogStreamCommand, PutLogEventsCommand } from '@aws-sdk/client-cloudwatch-logs';
import { parseArn } from '../../core/arn.ts';
import { DeliveryTargetError, type LogEvent, type LogGroupSink, type TargetCallOptions } from '../delivery-targets.ts';
import { awsErrorCode, boundedClientSettings, callDeadlineMs, isTimeoutOrAbort, RegionalClients, sdkClientConfig, type AwsClientOptions, type TargetLimits } from '../aws-clients.ts';

export const CLOUDWATCH_LOGS_LIMITS: TargetLimits = { requestTimeoutMs: 10_000, maxAttempts: 3 };

/** `arn:<partition>:logs:<region>:<account>:log-group:<name>[:*]` -> region and name. */
export function parseLogGroupArn(arn: string): { region: string; name: string } | undefined {
  const a = parseArn(arn);
  if (a?.service !== 'logs' || a.region === '' || !a.resource.startsWith('log-group:')) return undefined;
  const group = a.resource.slice('log-group:'.length);
  const name = group.endsWith(':*') && group.length > 2 ? group.slice(0, -2) : group;
  return name ? { region: a.region, name } : undefined;
}

export class CloudWatchLogsSink implements LogGroupSink {
  private readonly limits: TargetLimits;
  private readonly clients: RegionalClients<CloudWatchLogsClient>;
  /** Streams known to exist: `<region>/<group>/<stream>`. */
  private readonly streams = new Set<string>();

  constructor(opts: AwsClientOptions, limits: TargetLimits = CLOUDWATCH_LOGS_LIMITS) {
    this.limits = limits;
    this.clients = new RegionalClients((region) => new CloudWatchLogsClient({ ...sdkClientConfig(opts, region), ...boundedClientSettings(limits) }));
  }

  private async createStream(c: CloudWatchLogsClient, group: string, stream: string, signal: AbortSignal): Promise<void> {
    try {
      await c.send(new CreateLogStreamCommand({ logGroupName: group, logStreamName: stream }), { abortSignal: signal });
    } catch (e) {
      if ((e as { name?: string }).name !== 'ResourceAlreadyExistsException') throw e;
    }
  }

  /** One call: stream creation when needed and the put, all within requestTimeoutMs x maxAttempts (and `opts.signal`). */
  async putLogEvents(logGroupArn: string, stream: string, events: readonly LogEvent[], opts: TargetCallOptions = {}): Promise<{ rejected: number }> {
    const g = parseLogGroupArn(logGroupArn);
    if (!g) throw new DeliveryTargetError('InvalidParameterException', `not a log group ARN: ${logGroupArn}`);
    const c = this.clients.get(g.region);
    const known = `${g.region}/${g.name}/${stream}`;
    const deadline = AbortSignal.timeout(callDeadlineMs(this.limits));
    const signal = opts.signal ? AbortSignal.any([deadline, opts.signal]) : deadline;
    const put = () => c.send(new PutLogEventsCommand({ logGroupName: g.name, logStreamName: stream, logEvents: [...events] }), { abortSignal: signal });
    try {
      if (!this.streams.has(known)) {
        await this.createStream(c, g.name, stream, signal);
        this.streams.add(known);
      }
      let out;
      try {
        out = await put();
      } catch (e) {
        // The stream was deleted since we created it: create it again, once.
        if ((e as { name?: string }).name !== 'ResourceNotFoundException') throw e;
        this.streams.delete(known);
        await this.createStream(c, g.name, stream, signal);
        this.streams.add(known);
        out = await put();
      }
      const r = out.rejectedLogEventsInfo;
      if (!r) return { rejected: 0 };
      let rejected = 0;
      if (r.tooOldLogEventEndIndex !== undefined) rejected += r.tooOldLogEventEndIndex + 1;
      if (r.expiredLogEventEndIndex !== undefined) rejected = Math.max(rejected, r.expiredLogEventEndIndex + 1);
      if (r.tooNewLogEventStartIndex !== undefined) rejected += events.length - r.tooNewLogEventStartIndex;
      return { rejected };
    } catch (e) {
      this.streams.delete(known);
      const code = isTimeoutOrAbort(e, signal) ? 'CloudWatchLogsTimeout' : awsErrorCode(e);
      throw new DeliveryTargetError(code, `CloudWatch Logs PutLogEvents to ${g.name}/${stream} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  destroy(): void {
    this.clients.destroy();
  }
}
