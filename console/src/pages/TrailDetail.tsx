import { useEffect, useState } from 'react';
import Alert from '@cloudscape-design/components/alert';
import BreadcrumbGroup from '@cloudscape-design/components/breadcrumb-group';
import Button from '@cloudscape-design/components/button';
import Container from '@cloudscape-design/components/container';
import Header from '@cloudscape-design/components/header';
import KeyValuePairs from '@cloudscape-design/components/key-value-pairs';
import SpaceBetween from '@cloudscape-design/components/space-between';
import Spinner from '@cloudscape-design/components/spinner';
import StatusIndicator from '@cloudscape-design/components/status-indicator';
import { cloudTrail, type Session } from '../api.ts';
import { describeTrail, eventSelectors, formatTime, trailStatus, type AdvancedSelector, type BasicSelector, type Trail, type TrailStatus } from '../trails.ts';
import { href, navigate } from '../route.ts';
import { DeleteTrailModal } from './DeleteTrailModal.tsx';

/** One trail: its settings, status (start and stop logging), event selectors; edit and delete. */
export function TrailDetail({ name }: { name: string; session: Session }) {
  const [trail, setTrail] = useState<Trail | null | undefined>();
  const [status, setStatus] = useState<TrailStatus | undefined>();
  const [selectors, setSelectors] = useState<{ EventSelectors?: BasicSelector[]; AdvancedEventSelectors?: AdvancedSelector[] }>({});
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const [deleting, setDeleting] = useState(false);

  const load = async () => {
    setError('');
    try {
      const t = await describeTrail(name);
      setTrail(t ?? null);
      if (t) {
        const [s, sel] = await Promise.all([trailStatus(t.TrailARN), eventSelectors(t.TrailARN)]);
        setStatus(s);
        setSelectors(sel);
      }
    } catch (e) {
      setError((e as Error).message);
    }
  };
  useEffect(() => void load(), [name]);

  const logging = async (start: boolean) => {
    if (!trail) return;
    setBusy(true);
    try {
      await cloudTrail(start ? 'StartLogging' : 'StopLogging', { Name: trail.TrailARN });
      setStatus(await trailStatus(trail.TrailARN));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const advanced = selectors.AdvancedEventSelectors ?? [];
  const basic = selectors.EventSelectors ?? [];
  return (
    <SpaceBetween size="m">
      <BreadcrumbGroup
        items={[{ text: 'Trails', href: href(['trails']) }, { text: name, href: href(['trails', name]) }]}
        onFollow={(e) => { e.preventDefault(); navigate(e.detail.href); }}
        ariaLabel="Breadcrumbs"
      />
      <Header
        variant="h1"
        actions={trail && (
          <SpaceBetween direction="horizontal" size="xs">
            {status?.IsLogging ? <Button loading={busy} onClick={() => void logging(false)}>Stop logging</Button> : <Button loading={busy} onClick={() => void logging(true)}>Start logging</Button>}
            <Button onClick={() => navigate(href(['trails', name, 'edit']))}>Edit</Button>
            <Button onClick={() => setDeleting(true)}>Delete</Button>
          </SpaceBetween>
        )}
      >{name}</Header>
      {error && <Alert type="error" dismissible onDismiss={() => setError('')}>{error}</Alert>}
      {trail === undefined && !error && <Spinner size="large" />}
      {trail === null && <Alert type="warning" header="No such trail">No trail named {name} applies in this account and Region.</Alert>}
      {trail && (
        <SpaceBetween size="l">
          <Container header={<Header variant="h2">Status</Header>}>
            <KeyValuePairs
              columns={4}
              items={[
                { label: 'Logging', value: status?.IsLogging ? <StatusIndicator type="success">Logging</StatusIndicator> : <StatusIndicator type="stopped">Off</StatusIndicator>, id: 'logging' },
                { label: 'Last log file delivered', value: formatTime(status?.LatestDeliveryTime) },
                { label: 'Last delivery error', value: status?.LatestDeliveryError || '-' },
                { label: 'Last notification error', value: status?.LatestNotificationError || '-' },
                { label: 'Last CloudWatch Logs error', value: status?.LatestCloudWatchLogsDeliveryError || '-' },
                { label: 'Last digest error', value: status?.LatestDigestDeliveryError || '-' },
                { label: 'Started logging', value: formatTime(status?.StartLoggingTime) },
                { label: 'Stopped logging', value: formatTime(status?.StopLoggingTime) },
              ]}
            />
          </Container>
          <Container header={<Header variant="h2">General details</Header>}>
            <KeyValuePairs
              columns={3}
              items={[
                { label: 'Trail ARN', value: trail.TrailARN },
                { label: 'Home region', value: trail.HomeRegion ?? '-' },
                { label: 'Multi-region trail', value: trail.IsMultiRegionTrail ? 'Yes' : 'No' },
                { label: 'Organization trail', value: trail.IsOrganizationTrail ? 'Yes' : 'No' },
                { label: 'S3 bucket', value: trail.S3BucketName ?? '-' },
                { label: 'Log file prefix', value: trail.S3KeyPrefix || '-' },
                { label: 'Log file validation', value: trail.LogFileValidationEnabled ? 'Enabled' : 'Disabled' },
                { label: 'SNS topic', value: trail.SnsTopicARN || '-' },
                { label: 'SSE-KMS encryption', value: trail.KmsKeyId || 'Disabled' },
                { label: 'CloudWatch Logs log group', value: trail.CloudWatchLogsLogGroupArn || '-' },
                { label: 'CloudWatch Logs role', value: trail.CloudWatchLogsRoleArn || '-' },
                { label: 'Global service events', value: trail.IncludeGlobalServiceEvents ? 'Included' : 'Not included' },
              ]}
            />
          </Container>
          <Container header={<Header variant="h2" description={advanced.length ? 'Advanced event selectors' : 'Basic event selectors'}>Events</Header>}>
            <pre data-testid="trail-selectors" tabIndex={0} aria-label="Event selectors JSON" style={{ margin: 0, overflow: 'auto', fontSize: 13 }}>
              {JSON.stringify(advanced.length ? advanced : basic, null, 2)}
            </pre>
          </Container>
        </SpaceBetween>
      )}
      {deleting && trail && <DeleteTrailModal trail={trail} onClose={(deleted) => { setDeleting(false); if (deleted) navigate(href(['trails'])); }} />}
    </SpaceBetween>
  );
}
