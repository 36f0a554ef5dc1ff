import { useEffect, useState } from 'react';
import Box from '@cloudscape-design/components/box';
import Button from '@cloudscape-design/components/button';
import Header from '@cloudscape-design/components/header';
import Link from '@cloudscape-design/components/link';
import SpaceBetween from '@cloudscape-design/components/space-between';
import StatusIndicator from '@cloudscape-design/components/status-indicator';
import Table from '@cloudscape-design/components/table';
import Flashbar from '@cloudscape-design/components/flashbar';
import { cloudTrail } from '../api.ts';
import { formatTime, lastError, trailStatus, type Trail, type TrailStatus } from '../trails.ts';
import { href, navigate } from '../route.ts';
import { DeleteTrailModal } from './DeleteTrailModal.tsx';

interface Item {
  trail: Trail;
  status?: TrailStatus;
}

/** The trails of this account that apply in this Region, with their status. */
export function Trails() {
  const [items, setItems] = useState<Item[]>([]);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState('');
  const [selected, setSelected] = useState<Item[]>([]);
  const [deleting, setDeleting] = useState(false);

  const load = async () => {
    setLoading(true);
    setError('');
    try {
      const out = await cloudTrail<{ trailList?: Trail[] }>('DescribeTrails', { includeShadowTrails: true });
      const trails = out.trailList ?? [];
      const statuses = await Promise.all(trails.map((t) => trailStatus(t.TrailARN).catch(() => undefined)));
      setItems(trails.map((trail, i) => ({ trail, status: statuses[i] })));
      setSelected([]);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setLoading(false);
    }
  };
  useEffect(() => void load(), []);

  const open = (name: string) => navigate(href(['trails', name]));
  return (
    <SpaceBetween size="m">
      {error && <Flashbar items={[{ type: 'error', content: error, id: 'err' }]} />}
      <Table
        variant="full-page"
        items={items}
        loading={loading}
        loadingText="Loading trails"
        trackBy={(i) => i.trail.TrailARN}
        selectionType="single"
        selectedItems={selected}
        onSelectionChange={(e) => setSelected(e.detail.selectedItems)}
        ariaLabels={{ tableLabel: 'Trails', selectionGroupLabel: 'Trail selection', itemSelectionLabel: (_s, i) => `Select trail ${i.trail.Name}`, allItemsSelectionLabel: () => 'Select all' }}
        header={
          <Header
            variant="awsui-h1-sticky"
            counter={`(${items.length})`}
            description="Trails deliver this account's events to a bucket as log files."
            actions={
              <SpaceBetween direction="horizontal" size="xs">
                <Button iconName="refresh" ariaLabel="Refresh" onClick={() => void load()} />
                <Button disabled={selected.length !== 1} onClick={() => setDeleting(true)}>Delete</Button>
                <Button variant="primary" onClick={() => navigate(href(['trails', 'create']))}>Create trail</Button>
              </SpaceBetween>
            }
          >Trails</Header>
        }
        columnDefinitions={[
          { id: 'name', header: 'Name', cell: (i) => <Link href={href(['trails', i.trail.Name])} onFollow={(e) => { e.preventDefault(); open(i.trail.Name); }}>{i.trail.Name}</Link> },
          { id: 'home', header: 'Home region', cell: (i) => i.trail.HomeRegion ?? '-' },
          { id: 'multi', header: 'Multi-region trail', cell: (i) => (i.trail.IsMultiRegionTrail ? 'Yes' : 'No') },
          { id: 'org', header: 'Organization trail', cell: (i) => (i.trail.IsOrganizationTrail ? 'Yes' : 'No') },
          { id: 'bucket', header: 'S3 bucket', cell: (i) => i.trail.S3BucketName ?? '-' },
          { id: 'prefix', header: 'Log file prefix', cell: (i) => i.trail.S3KeyPrefix || '-' },
          { id: 'status', header: 'Status', cell: (i) => (i.status === undefined ? <StatusIndicator type="pending">Unknown</StatusIndicator> : i.status.IsLogging ? <StatusIndicator type="success">Logging</StatusIndicator> : <StatusIndicator type="stopped">Off</StatusIndicator>) },
          { id: 'delivery', header: 'Last delivery', cell: (i) => formatTime(i.status?.LatestDeliveryTime) },
          { id: 'error', header: 'Last error', cell: (i) => (lastError(i.status) ? <StatusIndicator type="error">{lastError(i.status)}</StatusIndicator> : '-') },
        ]}
        empty={
          <Box textAlign="center" color="inherit" padding="l">
            <b>No trails</b>
            <Box variant="p" color="inherit">Create a trail to deliver this account's events to a bucket.</Box>
            <Button onClick={() => navigate(href(['trails', 'create']))}>Create trail</Button>
          </Box>
        }
      />
      {deleting && selected[0] && (
        <DeleteTrailModal
          trail={selected[0].trail}
          onClose={(deleted) => {
            setDeleting(false);
            if (deleted) void load();
          }}
        />
      )}
    </SpaceBetween>
  );
}
