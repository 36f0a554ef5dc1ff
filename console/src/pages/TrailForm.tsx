import { useEffect, useState } from 'react';
import AttributeEditor from '@cloudscape-design/components/attribute-editor';
import BreadcrumbGroup from '@cloudscape-design/components/breadcrumb-group';
import Button from '@cloudscape-design/components/button';
import Checkbox from '@cloudscape-design/components/checkbox';
import Container from '@cloudscape-design/components/container';
import Form from '@cloudscape-design/components/form';
import FormField from '@cloudscape-design/components/form-field';
import Header from '@cloudscape-design/components/header';
import Input from '@cloudscape-design/components/input';
import SegmentedControl from '@cloudscape-design/components/segmented-control';
import Select from '@cloudscape-design/components/select';
import SpaceBetween from '@cloudscape-design/components/space-between';
import Spinner from '@cloudscape-design/components/spinner';
import { ApiError, cloudTrail } from '../api.ts';
import { describeTrail, eventSelectors, type AdvancedSelector, type BasicSelector } from '../trails.ts';
import { href, navigate } from '../route.ts';

type FieldId = 'name' | 'bucket' | 'prefix' | 'sns' | 'cloudWatch' | 'kms' | 'organization' | 'multiRegion' | 'selectors';

/** Which field an AWS validation error is about (the rest are shown for the whole form). */
const ERROR_FIELD: Record<string, FieldId> = {
  InvalidTrailNameException: 'name',
  TrailAlreadyExistsException: 'name',
  TrailNotFoundException: 'name',
  S3BucketDoesNotExistException: 'bucket',
  InsufficientS3BucketPolicyException: 'bucket',
  InvalidS3BucketNameException: 'bucket',
  InvalidS3PrefixException: 'prefix',
  InvalidSnsTopicNameException: 'sns',
  InsufficientSnsTopicPolicyException: 'sns',
  InvalidCloudWatchLogsLogGroupArnException: 'cloudWatch',
  InvalidCloudWatchLogsRoleArnException: 'cloudWatch',
  CloudWatchLogsDeliveryUnavailableException: 'cloudWatch',
  InvalidKmsKeyIdException: 'kms',
  KmsKeyNotFoundException: 'kms',
  KmsKeyDisabledException: 'kms',
  KmsException: 'kms',
  InsufficientEncryptionPolicyException: 'kms',
  OrganizationsNotInUseException: 'organization',
  OrganizationNotInAllFeaturesModeException: 'organization',
  NotOrganizationMasterAccountException: 'organization',
  CloudTrailAccessNotEnabledException: 'organization',
  InsufficientDependencyServiceAccessPermissionException: 'organization',
  InvalidHomeRegionException: 'multiRegion',
  InvalidEventSelectorsException: 'selectors',
};

const OPERATORS = ['Equals', 'NotEquals', 'StartsWith', 'NotStartsWith', 'EndsWith', 'NotEndsWith'] as const;
const FIELDS = ['eventCategory', 'resources.type', 'readOnly', 'eventSource', 'eventName', 'resources.ARN', 'eventType', 'userIdentity.arn', 'sessionCredentialFromConsole', 'errorCode'];
const opt = (v: string) => ({ value: v, label: v });

interface Condition {
  field: string;
  operator: (typeof OPERATORS)[number];
  values: string;
}
interface AdvancedDraft {
  name: string;
  conditions: Condition[];
}

function toDraft(a: AdvancedSelector): AdvancedDraft {
  const conditions: Condition[] = [];
  for (const f of a.FieldSelectors) for (const op of OPERATORS) if (f[op]?.length) conditions.push({ field: f.Field, operator: op, values: f[op]!.join(', ') });
  return { name: a.Name ?? '', conditions };
}
function fromDraft(d: AdvancedDraft): AdvancedSelector {
  const byField = new Map<string, Record<string, string[]>>();
  for (const c of d.conditions) {
    const f = byField.get(c.field) ?? {};
    f[c.operator] = [...(f[c.operator] ?? []), ...c.values.split(',').map((v) => v.trim()).filter(Boolean)];
    byField.set(c.field, f);
  }
  return { ...(d.name ? { Name: d.name } : {}), FieldSelectors: [...byField].map(([Field, ops]) => ({ Field, ...ops })) };
}

const MANAGEMENT_ONLY: AdvancedDraft = { name: 'Management events', conditions: [{ field: 'eventCategory', operator: 'Equals', values: 'Management' }] };

/** Create a trail (no name: creating) or edit one: every field of CreateTrail/UpdateTrail and both event selector editors. */
export function TrailForm({ name }: { name?: string }) {
  const editing = name !== undefined;
  const [loaded, setLoaded] = useState(!editing);
  const [trailName, setTrailName] = useState(name ?? '');
  const [bucket, setBucket] = useState('');
  const [prefix, setPrefix] = useState('');
  const [multiRegion, setMultiRegion] = useState(true);
  const [organization, setOrganization] = useState(false);
  const [validation, setValidation] = useState(true);
  const [sns, setSns] = useState('');
  const [logGroup, setLogGroup] = useState('');
  const [role, setRole] = useState('');
  const [kms, setKms] = useState('');
  const [mode, setMode] = useState<'basic' | 'advanced'>('basic');
  const [basic, setBasic] = useState<BasicSelector>({ ReadWriteType: 'All', IncludeManagementEvents: true, DataResources: [] });
  const [advanced, setAdvanced] = useState<AdvancedDraft[]>([MANAGEMENT_ONLY]);
  const [errors, setErrors] = useState<Partial<Record<FieldId, string>>>({});
  const [formError, setFormError] = useState('');
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!name) return;
    void (async () => {
      try {
        const t = await describeTrail(name);
        if (!t) throw new Error(`No trail named ${name}.`);
        setBucket(t.S3BucketName ?? '');
        setPrefix(t.S3KeyPrefix ?? '');
        setMultiRegion(t.IsMultiRegionTrail === true);
        setOrganization(t.IsOrganizationTrail === true);
        setValidation(t.LogFileValidationEnabled === true);
        setSns(t.SnsTopicARN ?? t.SnsTopicName ?? '');
        setLogGroup(t.CloudWatchLogsLogGroupArn ?? '');
        setRole(t.CloudWatchLogsRoleArn ?? '');
        setKms(t.KmsKeyId ?? '');
        const sel = await eventSelectors(t.TrailARN);
        if (sel.AdvancedEventSelectors?.length) {
          setMode('advanced');
          setAdvanced(sel.AdvancedEventSelectors.map(toDraft));
        } else if (sel.EventSelectors?.length) setBasic({ DataResources: [], ...sel.EventSelectors[0] });
      } catch (e) {
        setFormError((e as Error).message);
      } finally {
        setLoaded(true);
      }
    })();
  }, [name]);

  const submit = async () => {
    setBusy(true);
    setErrors({});
    setFormError('');
    let created = false;
    try {
      const settings = {
        S3BucketName: bucket.trim(),
        S3KeyPrefix: prefix.trim(),
        IsMultiRegionTrail: multiRegion,
        IsOrganizationTrail: organization,
        EnableLogFileValidation: validation,
        SnsTopicName: sns.trim(),
        CloudWatchLogsLogGroupArn: logGroup.trim(),
        CloudWatchLogsRoleArn: role.trim(),
        KmsKeyId: kms.trim(),
      };
      if (editing) await cloudTrail('UpdateTrail', { Name: name, ...settings });
      else {
        // CreateTrail takes no empty strings for optional members.
        const input = Object.fromEntries(Object.entries({ Name: trailName.trim(), ...settings }).filter(([, v]) => v !== ''));
        await cloudTrail('CreateTrail', input);
        created = true;
      }
      const target = editing ? name! : trailName.trim();
      const selectorInput = mode === 'advanced'
        ? { AdvancedEventSelectors: advanced.map(fromDraft) }
        : { EventSelectors: [{ ...basic, DataResources: (basic.DataResources ?? []).filter((d) => d.Type) }] };
      await cloudTrail('PutEventSelectors', { TrailName: target, ...selectorInput });
      if (!editing) await cloudTrail('StartLogging', { Name: target });
      navigate(href(['trails', target]));
    } catch (e) {
      const err = e as ApiError;
      const field = ERROR_FIELD[err.code];
      const text = `${err.message}${err.code ? ` (${err.code})` : ''}`;
      if (field) setErrors({ [field]: text });
      else setFormError(text);
      // The trail exists but its selectors were refused: from now on this is an edit.
      if (created) setFormError((f) => f || 'The trail was created; its event selectors were not saved. Fix them and save again from the trail\'s Edit page.');
    } finally {
      setBusy(false);
    }
  };

  if (!loaded) return <Spinner size="large" />;
  const title = editing ? `Edit ${name}` : 'Create trail';
  return (
    <SpaceBetween size="m">
      <BreadcrumbGroup
        items={[{ text: 'Trails', href: href(['trails']) }, ...(editing ? [{ text: name!, href: href(['trails', name!]) }] : []), { text: editing ? 'Edit' : 'Create trail', href: '#' }]}
        onFollow={(e) => { e.preventDefault(); if (e.detail.href !== '#') navigate(e.detail.href); }}
        ariaLabel="Breadcrumbs"
      />
      <form onSubmit={(e) => { e.preventDefault(); void submit(); }}>
        <Form
          header={<Header variant="h1">{title}</Header>}
          errorText={formError || undefined}
          errorIconAriaLabel="Error"
          actions={
            <SpaceBetween direction="horizontal" size="xs">
              <Button variant="link" formAction="none" onClick={() => navigate(href(editing ? ['trails', name!] : ['trails']))}>Cancel</Button>
              <Button variant="primary" loading={busy} data-testid="save-trail">{editing ? 'Save changes' : 'Create trail'}</Button>
            </SpaceBetween>
          }
        >
          <SpaceBetween size="l">
            <Container header={<Header variant="h2">General details</Header>}>
              <SpaceBetween size="l">
                <FormField label="Trail name" errorText={errors.name} constraintText="3-128 letters, digits, periods, underscores and hyphens; starts with a letter or digit.">
                  <Input value={trailName} disabled={editing} onChange={(e) => setTrailName(e.detail.value)} />
                </FormField>
                <FormField label="Multi-region trail" errorText={errors.multiRegion}>
                  <Checkbox checked={multiRegion} onChange={(e) => setMultiRegion(e.detail.checked)}>Apply the trail to all Regions</Checkbox>
                </FormField>
                <FormField label="Organization trail" errorText={errors.organization}>
                  <Checkbox checked={organization} onChange={(e) => setOrganization(e.detail.checked)}>Enable for all accounts in my organization</Checkbox>
                </FormField>
              </SpaceBetween>
            </Container>
            <Container header={<Header variant="h2">Storage location</Header>}>
              <SpaceBetween size="l">
                <FormField label="S3 bucket" errorText={errors.bucket} description="An existing bucket the log files are delivered to.">
                  <Input value={bucket} onChange={(e) => setBucket(e.detail.value)} />
                </FormField>
                <FormField label="Log file prefix" errorText={errors.prefix} constraintText="Optional">
                  <Input value={prefix} onChange={(e) => setPrefix(e.detail.value)} />
                </FormField>
                <FormField label="Log file validation" description="Digest files let you validate the log files (aws cloudtrail validate-logs).">
                  <Checkbox checked={validation} onChange={(e) => setValidation(e.detail.checked)}>Enabled</Checkbox>
                </FormField>
                <FormField label="SSE-KMS encryption: AWS KMS key" errorText={errors.kms} constraintText="Optional: key ARN, alias or id">
                  <Input value={kms} onChange={(e) => setKms(e.detail.value)} />
                </FormField>
                <FormField label="SNS notification delivery: topic" errorText={errors.sns} constraintText="Optional: topic name or ARN">
                  <Input value={sns} onChange={(e) => setSns(e.detail.value)} />
                </FormField>
              </SpaceBetween>
            </Container>
            <Container header={<Header variant="h2">CloudWatch Logs</Header>}>
              <SpaceBetween size="l">
                <FormField label="Log group ARN" errorText={errors.cloudWatch} constraintText="Optional">
                  <Input value={logGroup} onChange={(e) => setLogGroup(e.detail.value)} />
                </FormField>
                <FormField label="IAM role ARN" constraintText="Optional, with the log group">
                  <Input value={role} onChange={(e) => setRole(e.detail.value)} />
                </FormField>
              </SpaceBetween>
            </Container>
            <Container header={<Header variant="h2">Events</Header>}>
              <SpaceBetween size="l">
                <SegmentedControl
                  selectedId={mode}
                  label="Event selector editor"
                  options={[{ id: 'basic', text: 'Basic event selectors' }, { id: 'advanced', text: 'Advanced event selectors' }]}
                  onChange={(e) => setMode(e.detail.selectedId as 'basic' | 'advanced')}
                />
                <FormField label={mode === 'basic' ? 'Basic event selectors' : 'Advanced event selectors'} errorText={errors.selectors} stretch>
                  {mode === 'basic' ? <BasicEditor value={basic} onChange={setBasic} /> : <AdvancedEditor value={advanced} onChange={setAdvanced} />}
                </FormField>
              </SpaceBetween>
            </Container>
          </SpaceBetween>
        </Form>
      </form>
    </SpaceBetween>
  );
}

function BasicEditor({ value, onChange }: { value: BasicSelector; onChange: (v: BasicSelector) => void }) {
  const excluded = new Set(value.ExcludeManagementEventSources ?? []);
  const toggleSource = (source: string, on: boolean) => {
    const next = new Set(excluded);
    if (on) next.add(source);
    else next.delete(source);
    onChange({ ...value, ExcludeManagementEventSources: [...next] });
  };
  return (
    <SpaceBetween size="m">
      <Checkbox checked={value.IncludeManagementEvents !== false} onChange={(e) => onChange({ ...value, IncludeManagementEvents: e.detail.checked })}>Management events</Checkbox>
      <FormField label="API activity">
        <Select
          selectedOption={opt(value.ReadWriteType ?? 'All')}
          options={['All', 'ReadOnly', 'WriteOnly'].map(opt)}
          onChange={(e) => onChange({ ...value, ReadWriteType: e.detail.selectedOption.value as BasicSelector['ReadWriteType'] })}
          ariaLabel="API activity"
        />
      </FormField>
      <Checkbox checked={excluded.has('kms.amazonaws.com')} onChange={(e) => toggleSource('kms.amazonaws.com', e.detail.checked)}>Exclude AWS KMS events</Checkbox>
      <Checkbox checked={excluded.has('rdsdata.amazonaws.com')} onChange={(e) => toggleSource('rdsdata.amazonaws.com', e.detail.checked)}>Exclude Amazon RDS Data API events</Checkbox>
      <FormField label="Data events" description="Resource type, and the ARNs (or ARN prefixes) of the resources, comma-separated.">
        <AttributeEditor
          items={value.DataResources ?? []}
          addButtonText="Add data event type"
          removeButtonText="Remove"
          empty="No data events."
          onAddButtonClick={() => onChange({ ...value, DataResources: [...(value.DataResources ?? []), { Type: 'AWS::S3::Object', Values: [] }] })}
          onRemoveButtonClick={(e) => onChange({ ...value, DataResources: (value.DataResources ?? []).filter((_, i) => i !== e.detail.itemIndex) })}
          definition={[
            {
              label: 'Resource type',
              control: (item, i) => (
                <Select
                  selectedOption={opt(item.Type ?? 'AWS::S3::Object')}
                  options={['AWS::S3::Object', 'AWS::Lambda::Function', 'AWS::DynamoDB::Table'].map(opt)}
                  onChange={(e) => onChange({ ...value, DataResources: (value.DataResources ?? []).map((d, j) => (j === i ? { ...d, Type: e.detail.selectedOption.value! } : d)) })}
                />
              ),
            },
            {
              label: 'Values',
              control: (item, i) => (
                <Input
                  value={(item.Values ?? []).join(', ')}
                  onChange={(e) => onChange({ ...value, DataResources: (value.DataResources ?? []).map((d, j) => (j === i ? { ...d, Values: e.detail.value.split(',').map((v) => v.trim()).filter(Boolean) } : d)) })}
                />
              ),
            },
          ]}
        />
      </FormField>
    </SpaceBetween>
  );
}

function AdvancedEditor({ value, onChange }: { value: AdvancedDraft[]; onChange: (v: AdvancedDraft[]) => void }) {
  const set = (i: number, d: AdvancedDraft) => onChange(value.map((x, j) => (j === i ? d : x)));
  return (
    <SpaceBetween size="l">
      {value.map((sel, i) => (
        <Container
          key={i}
          header={
            <Header variant="h3" actions={<Button onClick={() => onChange(value.filter((_, j) => j !== i))} ariaLabel={`Remove selector ${i + 1}`}>Remove selector</Button>}>
              Selector {i + 1}
            </Header>
          }
        >
          <SpaceBetween size="m">
            <FormField label="Selector name">
              <Input value={sel.name} onChange={(e) => set(i, { ...sel, name: e.detail.value })} />
            </FormField>
            <AttributeEditor
              items={sel.conditions}
              addButtonText="Add condition"
              removeButtonText="Remove"
              empty="No conditions."
              onAddButtonClick={() => set(i, { ...sel, conditions: [...sel.conditions, { field: 'eventName', operator: 'Equals', values: '' }] })}
              onRemoveButtonClick={(e) => set(i, { ...sel, conditions: sel.conditions.filter((_, j) => j !== e.detail.itemIndex) })}
              definition={[
                { label: 'Field', control: (c, k) => <Select selectedOption={opt(c.field)} options={FIELDS.map(opt)} onChange={(e) => set(i, { ...sel, conditions: sel.conditions.map((x, j) => (j === k ? { ...x, field: e.detail.selectedOption.value! } : x)) })} /> },
                { label: 'Operator', control: (c, k) => <Select selectedOption={opt(c.operator)} options={OPERATORS.map(opt)} onChange={(e) => set(i, { ...sel, conditions: sel.conditions.map((x, j) => (j === k ? { ...x, operator: e.detail.selectedOption.value as Condition['operator'] } : x)) })} /> },
                { label: 'Values', control: (c, k) => <Input value={c.values} placeholder="comma-separated" onChange={(e) => set(i, { ...sel, conditions: sel.conditions.map((x, j) => (j === k ? { ...x, values: e.detail.value } : x)) })} /> },
              ]}
            />
          </SpaceBetween>
        </Container>
      ))}
      <Button onClick={() => onChange([...value, { name: '', conditions: [{ field: 'eventCategory', operator: 'Equals', values: 'Data' }, { field: 'resources.type', operator: 'Equals', values: 'AWS::S3::Object' }] }])}>Add advanced event selector</Button>
    </SpaceBetween>
  );
}
