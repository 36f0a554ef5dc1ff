import { useEffect, useMemo, useRef, useState } from 'react';
import Box from '@cloudscape-design/components/box';
import Button from '@cloudscape-design/components/button';
import ButtonDropdown from '@cloudscape-design/components/button-dropdown';
import CollectionPreferences, { type CollectionPreferencesProps } from '@cloudscape-design/components/collection-preferences';
import DateRangePicker, { type DateRangePickerProps } from '@cloudscape-design/components/date-range-picker';
import Flashbar, { type FlashbarProps } from '@cloudscape-design/components/flashbar';
import Header from '@cloudscape-design/components/header';
import Input from '@cloudscape-design/components/input';
import Link from '@cloudscape-design/components/link';
import Pagination from '@cloudscape-design/components/pagination';
import ProgressBar from '@cloudscape-design/components/progress-bar';
import Select from '@cloudscape-design/components/select';
import SpaceBetween from '@cloudscape-design/components/space-between';
import Table, { type TableProps } from '@cloudscape-design/components/table';
import Toggle from '@cloudscape-design/components/toggle';
import { cloudTrail, streamUrl } from '../api.ts';
import { ATTRIBUTES, downloadEvents, lookupInput, rangeFromQuery, rangeToQuery, toRow, type EventRow, type Filter, type LookupEvent, type TimeRange } from '../events.ts';
import { href, navigate } from '../route.ts';

const COLUMNS: TableProps.ColumnDefinition<EventRow>[] = [
  { id: 'eventTime', header: 'Event time', cell: (r) => (r.eventTime ? formatTime(r.eventTime) : ''), minWidth: 200 },
  { id: 'userName', header: 'User name', cell: (r) => r.userName || '-' },
  { id: 'eventName', header: 'Event name', cell: (r) => <Link href={href(['events', r.id])} onFollow={(e) => { e.preventDefault(); navigate(href(['events', r.id])); }}>{r.eventName}</Link> },
  { id: 'resourceType', header: 'Resource type', cell: (r) => r.resourceType || '-' },
  { id: 'resourceName', header: 'Resource name', cell: (r) => r.resourceName || '-' },
  { id: 'eventSource', header: 'Event source', cell: (r) => r.eventSource },
  { id: 'accessKeyId', header: 'AWS access key', cell: (r) => r.accessKeyId || '-' },
  { id: 'sourceIp', header: 'Source IP address', cell: (r) => r.sourceIp || '-' },
  { id: 'requestId', header: 'Request ID', cell: (r) => r.requestId || '-' },
  { id: 'errorCode', header: 'Error code', cell: (r) => r.errorCode || '-' },
  { id: 'readOnly', header: 'Read-only', cell: (r) => r.readOnly || '-' },
];
/** 2026-12-05 01:37:24 in the browser's time zone. */
const formatTime = (d: Date) => {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
};
const DEFAULT_VISIBLE = ['eventName', 'eventTime', 'userName', 'eventSource', 'resourceType', 'resourceName'];
const PREFS_KEY = 'opentrail.eventHistory.preferences';

interface Prefs {
  pageSize: number;
  contentDisplay: { id: string; visible: boolean }[];
  wrapLines: boolean;
}

function loadPrefs(): Prefs {
  const fallback: Prefs = { pageSize: 50, wrapLines: false, contentDisplay: ['eventName', 'eventTime', 'userName', 'eventSource', 'resourceType', 'resourceName', 'accessKeyId', 'sourceIp', 'requestId', 'errorCode', 'readOnly'].map((id) => ({ id, visible: DEFAULT_VISIBLE.includes(id) })) };
  try {
    const saved = JSON.parse(localStorage.getItem(PREFS_KEY) ?? 'null');
    if (saved && Array.isArray(saved.contentDisplay) && [10, 25, 50].includes(saved.pageSize)) {
      const known = new Set(COLUMNS.map((c) => c.id));
      const display = saved.contentDisplay.filter((c: { id: string }) => known.has(c.id));
      for (const c of fallback.contentDisplay) if (!display.some((d: { id: string }) => d.id === c.id)) display.push({ ...c, visible: false });
      return { pageSize: saved.pageSize, wrapLines: saved.wrapLines === true, contentDisplay: display };
    }
  } catch {
    // Unreadable preferences: the defaults.
  }
  return fallback;
}

const RELATIVE: DateRangePickerProps.RelativeOption[] = [
  { key: '30m', amount: 30, unit: 'minute', type: 'relative' },
  { key: '1h', amount: 1, unit: 'hour', type: 'relative' },
  { key: '12h', amount: 12, unit: 'hour', type: 'relative' },
  { key: '1d', amount: 1, unit: 'day', type: 'relative' },
  { key: '1w', amount: 1, unit: 'week', type: 'relative' },
  { key: '90d', amount: 90, unit: 'day', type: 'relative' },
];

function queryOf(filter: Filter | undefined, range: TimeRange | null): Record<string, string | undefined> {
  return { ...(filter && filter.value ? { attribute: filter.key, value: filter.value } : {}), ...rangeToQuery(range) };
}

/** Event history: LookupEvents' table with one attribute filter, a time range, pages, downloads and a live mode. */
export function EventHistory({ query }: { query: URLSearchParams }) {
  const filter: Filter | undefined = query.get('attribute') ? { key: query.get('attribute')!, value: query.get('value') ?? '' } : undefined;
  const range = rangeFromQuery(query);
  const filterKey = JSON.stringify(queryOf(filter, range));

  const [attribute, setAttribute] = useState(filter?.key ?? 'EventName');
  const [value, setValue] = useState(filter?.value ?? '');
  const [prefs, setPrefs] = useState<Prefs>(loadPrefs);
  const [pages, setPages] = useState<EventRow[][]>([]);
  const [tokens, setTokens] = useState<(string | undefined)[]>([]);
  const [pageIndex, setPageIndex] = useState(1);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState('');
  const [live, setLive] = useState(false);
  const [liveRows, setLiveRows] = useState<EventRow[]>([]);
  const [liveNote, setLiveNote] = useState('');
  const [download, setDownload] = useState<{ format: string; count: number; controller: AbortController } | undefined>();
  const [notes, setNotes] = useState<FlashbarProps.MessageDefinition[]>([]);
  const generation = useRef(0);

  useEffect(() => {
    setAttribute(filter?.key ?? 'EventName');
    setValue(filter?.value ?? '');
  }, [filterKey]);

  const loadPage = async (index: number, token: string | undefined, gen: number) => {
    setLoading(true);
    setError('');
    try {
      const out = await cloudTrail<{ Events?: LookupEvent[]; NextToken?: string }>('LookupEvents', lookupInput(filter, range, prefs.pageSize, token));
      if (gen !== generation.current) return;
      setPages((p) => {
        const next = p.slice(0, index - 1);
        next[index - 1] = (out.Events ?? []).map(toRow);
        return next;
      });
      setTokens((t) => {
        const next = t.slice(0, index);
        next[index] = out.NextToken;
        return next;
      });
      setPageIndex(index);
    } catch (e) {
      if (gen === generation.current) setError(`${(e as Error).message}`);
    } finally {
      if (gen === generation.current) setLoading(false);
    }
  };

  const reload = () => {
    const gen = ++generation.current;
    setPages([]);
    setTokens([]);
    setLiveRows([]);
    void loadPage(1, undefined, gen);
  };
  useEffect(reload, [filterKey, prefs.pageSize]);

  // Live mode: GET /events/stream (server-sent events), new events added on top as they arrive.
  useEffect(() => {
    if (!live) return;
    setLiveNote('Live: new events appear at the top as they arrive.');
    const source = new EventSource(streamUrl(filter));
    source.onmessage = (m) => {
      try {
        const row = toRow(JSON.parse(m.data) as LookupEvent);
        setLiveRows((rows) => (rows.some((r) => r.id === row.id) ? rows : [row, ...rows].slice(0, 500)));
      } catch {
        // An entry that is not JSON is skipped.
      }
    };
    source.onerror = () => {
      if (source.readyState !== EventSource.CLOSED) return;
      // EventSource does not say why: ask once.
      void fetch(streamUrl(filter), { method: 'GET', credentials: 'same-origin', signal: AbortSignal.timeout(3000) }).then((r) => {
        setLiveNote(r.status === 404 ? 'Live mode is not available: this server has no GET /events/stream.' : `Live mode stopped (HTTP ${r.status}).`);
        void r.body?.cancel();
      }, () => setLiveNote('Live mode stopped: the connection failed.'));
      setLive(false);
    };
    return () => source.close();
  }, [live, filterKey]);

  const apply = (key: string, v: string, r: TimeRange | null) => navigate(href(['events'], queryOf(v ? { key, value: v } : undefined, r)), true);

  const startDownload = (format: 'csv' | 'json') => {
    const controller = new AbortController();
    setDownload({ format, count: 0, controller });
    downloadEvents(format, filter, range, (count) => setDownload((d) => d && { ...d, count }), controller.signal).then((blob) => {
      if (controller.signal.aborted) return;
      const a = document.createElement('a');
      a.href = URL.createObjectURL(blob);
      a.download = `event_history.${format}`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 60_000);
    }, (e) => {
      if (!controller.signal.aborted) setNotes([{ type: 'error', content: `Download failed: ${(e as Error).message}`, dismissible: true, onDismiss: () => setNotes([]), id: 'dl' }]);
    }).finally(() => setDownload(undefined));
  };

  const rows = pages[pageIndex - 1] ?? [];
  const shown = useMemo(() => (pageIndex === 1 && liveRows.length ? [...liveRows.filter((l) => !rows.some((r) => r.id === l.id)), ...rows] : rows), [liveRows, rows, pageIndex]);
  const hasMore = tokens[pageIndex] !== undefined;
  const flash: FlashbarProps.MessageDefinition[] = [
    ...notes,
    ...(download ? [{
      type: 'in-progress' as const, id: 'download',
      content: <ProgressBar label={`Downloading events as ${download.format.toUpperCase()}`} description="Every event of the filtered set, page by page" additionalInfo={`${download.count} events so far`} variant="flash" />,
      action: <Button onClick={() => download.controller.abort()}>Cancel</Button>,
    }] : []),
  ];

  return (
    <SpaceBetween size="m">
      {flash.length > 0 && <Flashbar items={flash} />}
      <Table
        variant="full-page"
        stickyHeader
        items={shown}
        trackBy="id"
        loading={loading}
        loadingText="Loading events"
        columnDefinitions={COLUMNS}
        columnDisplay={prefs.contentDisplay}
        wrapLines={prefs.wrapLines}
        resizableColumns
        ariaLabels={{ tableLabel: 'Event history' }}
        empty={<Box textAlign="center" color="inherit" padding="l"><b>No events</b><Box variant="p" color="inherit">{error ? error : 'No events match this filter and time range.'}</Box></Box>}
        header={
          <Header
            variant="awsui-h1-sticky"
            description="Event history shows the last 90 days of management events of this account and Region."
            actions={
              <SpaceBetween direction="horizontal" size="xs" alignItems="center">
                <Toggle checked={live} onChange={(e) => { setLiveNote(''); setLive(e.detail.checked); }} ariaLabel="Live mode">Live</Toggle>
                <Button iconName="refresh" ariaLabel="Refresh" onClick={reload} />
                <ButtonDropdown
                  disabled={download !== undefined}
                  items={[{ id: 'csv', text: 'Download as CSV' }, { id: 'json', text: 'Download as JSON' }]}
                  onItemClick={(e) => startDownload(e.detail.id as 'csv' | 'json')}
                >Download events</ButtonDropdown>
              </SpaceBetween>
            }
          >Event history</Header>
        }
        filter={
          <SpaceBetween size="xs">
            <SpaceBetween direction="horizontal" size="xs">
              <div style={{ minWidth: 180 }}>
                <Select
                  selectedOption={ATTRIBUTES.find((a) => a.value === attribute) ?? null}
                  options={ATTRIBUTES}
                  ariaLabel="Lookup attribute"
                  onChange={(e) => {
                    setAttribute(e.detail.selectedOption.value!);
                    setValue('');
                  }}
                />
              </div>
              <div style={{ minWidth: 260 }}>
                {attribute === 'ReadOnly' ? (
                  <Select
                    selectedOption={value ? { value, label: value } : null}
                    placeholder="Choose true or false"
                    options={[{ value: 'true', label: 'true' }, { value: 'false', label: 'false' }]}
                    ariaLabel="Lookup value"
                    onChange={(e) => {
                      setValue(e.detail.selectedOption.value!);
                      apply(attribute, e.detail.selectedOption.value!, range);
                    }}
                  />
                ) : (
                  <Input
                    type="search"
                    value={value}
                    placeholder={`Enter ${ATTRIBUTES.find((a) => a.value === attribute)?.label.toLowerCase()}`}
                    ariaLabel="Lookup value"
                    onChange={(e) => setValue(e.detail.value)}
                    onKeyDown={(e) => {
                      if (e.detail.key === 'Enter') apply(attribute, value, range);
                    }}
                  />
                )}
              </div>
              <Button onClick={() => apply(attribute, value, range)} data-testid="apply-filter">Search</Button>
              {filter && <Button variant="link" onClick={() => apply(attribute, '', range)}>Clear filter</Button>}
              <div style={{ minWidth: 320 }}>
              <DateRangePicker
                value={range as DateRangePickerProps.Value | null}
                onChange={(e) => apply(filter?.key ?? attribute, filter?.value ?? '', e.detail.value as TimeRange | null)}
                relativeOptions={RELATIVE}
                isValidRange={(r) => {
                  if (r?.type === 'absolute' && r.startDate && r.endDate && Date.parse(r.startDate) > Date.parse(r.endDate)) return { valid: false, errorMessage: 'The start must be before the end.' };
                  return { valid: true };
                }}
                placeholder="Filter by a date and time range"
                ariaLabel="Time range"
                i18nStrings={{ applyButtonLabel: 'Apply', cancelButtonLabel: 'Cancel', clearButtonLabel: 'Clear and dismiss', relativeModeTitle: 'Relative range', absoluteModeTitle: 'Absolute range' }}
              />
              </div>
            </SpaceBetween>
            {liveNote && <Box variant="small" color="text-status-info" data-testid="live-note">{liveNote}</Box>}
          </SpaceBetween>
        }
        pagination={
          <Pagination
            currentPageIndex={pageIndex}
            pagesCount={Math.max(pages.length, 1)}
            openEnd={hasMore}
            ariaLabels={{ nextPageLabel: 'Next page', previousPageLabel: 'Previous page', pageLabel: (n) => `Page ${n}` }}
            onChange={(e) => {
              const i = e.detail.currentPageIndex;
              if (pages[i - 1]) setPageIndex(i);
            }}
            onNextPageClick={(e) => {
              const i = e.detail.requestedPageIndex;
              if (!pages[i - 1] && tokens[i - 1]) void loadPage(i, tokens[i - 1], generation.current);
              else if (pages[i - 1]) setPageIndex(i);
            }}
          />
        }
        preferences={
          <CollectionPreferences
            title="Preferences"
            confirmLabel="Confirm"
            cancelLabel="Cancel"
            preferences={prefs}
            pageSizePreference={{ title: 'Events per page', options: [{ value: 10, label: '10 events' }, { value: 25, label: '25 events' }, { value: 50, label: '50 events' }] }}
            wrapLinesPreference={{ label: 'Wrap lines', description: 'Show whole cell contents' }}
            contentDisplayPreference={{ title: 'Columns', options: COLUMNS.map((c) => ({ id: c.id!, label: String(c.header), alwaysVisible: c.id === 'eventName' })) }}
            onConfirm={(e) => {
              const d = e.detail as CollectionPreferencesProps.Preferences;
              const next: Prefs = { pageSize: d.pageSize ?? 50, wrapLines: d.wrapLines ?? false, contentDisplay: [...(d.contentDisplay ?? prefs.contentDisplay)] };
              localStorage.setItem(PREFS_KEY, JSON.stringify(next));
              setPrefs(next);
            }}
          />
        }
      />
    </SpaceBetween>
  );
}
