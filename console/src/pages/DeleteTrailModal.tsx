import { useState } from 'react';
import Alert from '@cloudscape-design/components/alert';
import Box from '@cloudscape-design/components/box';
import Button from '@cloudscape-design/components/button';
import FormField from '@cloudscape-design/components/form-field';
import Input from '@cloudscape-design/components/input';
import Modal from '@cloudscape-design/components/modal';
import SpaceBetween from '@cloudscape-design/components/space-between';
import { cloudTrail } from '../api.ts';
import type { Trail } from '../trails.ts';

/** DeleteTrail, once the trail's name is typed. */
export function DeleteTrailModal({ trail, onClose }: { trail: Trail; onClose: (deleted: boolean) => void }) {
  const [typed, setTyped] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const confirm = async () => {
    setBusy(true);
    setError('');
    try {
      await cloudTrail('DeleteTrail', { Name: trail.TrailARN });
      onClose(true);
    } catch (e) {
      setError((e as Error).message);
      setBusy(false);
    }
  };
  return (
    <Modal
      visible
      onDismiss={() => onClose(false)}
      header={`Delete trail ${trail.Name}?`}
      footer={
        <Box float="right">
          <SpaceBetween direction="horizontal" size="xs">
            <Button variant="link" onClick={() => onClose(false)}>Cancel</Button>
            <Button variant="primary" disabled={typed !== trail.Name} loading={busy} onClick={() => void confirm()}>Delete</Button>
          </SpaceBetween>
        </Box>
      }
    >
      <SpaceBetween size="m">
        <Box>Deleting the trail stops its delivery. Log files already delivered stay in bucket {trail.S3BucketName}.</Box>
        {error && <Alert type="error">{error}</Alert>}
        <FormField label={`To confirm, type the trail's name: ${trail.Name}`}>
          <Input value={typed} onChange={(e) => setTyped(e.detail.value)} ariaLabel="Trail name to confirm" />
        </FormField>
      </SpaceBetween>
    </Modal>
  );
}
