import { useEffect, useState } from 'react';
import Alert from '@cloudscape-design/components/alert';
import BreadcrumbGroup from '@cloudscape-design/components/breadcrumb-group';
import Box from '@cloudscape-design/components/box';
import Container from '@cloudscape-design/components/container';
import CopyToClipboard from '@cloudscape-design/components/copy-to-clipboard';
import Header from '@cloudscape-design/components/header';
import KeyValuePairs from '@cloudscape-design/components/key-value-pairs';
import SpaceBetween from '@cloudscape-design/components/space-between';
import Spinner from '@cloudscape-design/components/spinner';
import Table from '@cloudscape-design/components/table';
import { cloudTrail } from '../api.ts';
import { toRow, type EventRow, type LookupEvent } from '../events.ts';
import { href, navigate } from '../route.ts';

/** One event: its summary, the resources it names, and its whole record as JSON (copyable). */
export function EventDetail({ eventId }: { eventId: string }) {
  const [row, setRow] = useState<EventRow | null | undefined>();
  const [error, setError] = useState('');
  useEffect(() => {
    setRow(undefined);
    cloudTrail<{ Events?: LookupEvent[] }>('LookupEvents', { LookupAttributes: [{ AttributeKey: 'EventId', AttributeValue: eventId }], MaxResults: 1 })
      .then((out) => setRow(out.Events?.[0] ? toRow(out.Events[0]) : null), (e) => setError((e as Error).message));
  }, [eventId]);

  const json = row ? JSON.stringify(row.record, null, 2) : '';
  return (
    <SpaceBetween size="m">
      <BreadcrumbGroup
        items={[{ text: 'Event history', href: href(['events']) }, { text: row?.eventName || eventId, href: href(['events', eventId]) }]}
        onFollow={(e) => { e.preventDefault(); navigate(e.detail.href); }}
        ariaLabel="Breadcrumbs"
      />
      <Header variant="h1">{row?.eventName || 'Event'}</Header>
      {error && <Alert type="error" header="The event could not be read">{error}</Alert>}
      {row === undefined && !error && <Spinner size="large" />}
      {row === null && <Alert type="warning" header="No such event">No event with ID {eventId} in this account and Region's Event history.</Alert>}
      {row && (
        <SpaceBetween size="l">
          <Container header={<Header variant="h2">Details</Header>}>
            <KeyValuePairs
              columns={3}
              items={[
                { label: 'Event time', value: row.eventTime?.toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' }) ?? '-' },
                { label: 'User name', value: row.userName || '-' },
                { label: 'Event name', value: row.eventName },
                { label: 'Event source', value: row.eventSource },
                { label: 'AWS access key', value: row.accessKeyId || '-' },
                { label: 'Source IP address', value: row.sourceIp || '-' },
                { label: 'Event ID', value: row.id },
                { label: 'Request ID', value: row.requestId || '-' },
                { label: 'AWS region', value: row.region || '-' },
                { label: 'Error code', value: row.errorCode || '-' },
                { label: 'Read-only', value: row.readOnly || '-' },
                { label: 'User agent', value: String(row.record.userAgent ?? '-') },
              ]}
            />
          </Container>
          <Table
            header={<Header variant="h2" counter={`(${row.entry.Resources?.length ?? 0})`}>Resources referenced</Header>}
            items={row.entry.Resources ?? []}
            columnDefinitions={[
              { id: 'type', header: 'Resource type', cell: (r) => r.ResourceType ?? '-' },
              { id: 'name', header: 'Resource name', cell: (r) => r.ResourceName ?? '-' },
            ]}
            empty={<Box textAlign="center" color="inherit">This event names no resources.</Box>}
            variant="container"
            ariaLabels={{ tableLabel: 'Resources referenced' }}
          />
          <Container
            header={
              <Header variant="h2" actions={<CopyToClipboard variant="button" textToCopy={json} copyButtonText="Copy" copySuccessText="Event record copied" copyErrorText="The record could not be copied" />}>
                Event record
              </Header>
            }
          >
            <pre data-testid="event-record" tabIndex={0} aria-label="Event record JSON" style={{ margin: 0, overflow: 'auto', maxHeight: '60vh', fontSize: 13, lineHeight: 1.45 }}>{json}</pre>
          </Container>
        </SpaceBetween>
      )}
    </SpaceBetween>
  );
}
