import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call, compact } from '../api/client';
import { useIsAdmin } from '../auth/AuthProvider';
import { FilterForm, type FilterDef } from '../components/FilterForm';
import { Time } from '../components/Time';
import { ConfirmDialog, Empty, ErrorBanner, Loading, OffsetPager } from '../components/ui';
import { intParam, useUrlFilters } from '../lib/useUrlFilters';
import { DeliveryTable } from './DeliveryTable';

const KEYS = ['status', 'request_id', 'event_type', 'since', 'until', 'offset'] as const;
const DEFS: FilterDef<(typeof KEYS)[number]>[] = [
  { key: 'status', label: 'Status', type: 'select', options: ['pending', 'delivered', 'exhausted'].map((s) => ({ value: s, label: s })) },
  { key: 'request_id', label: 'Request id' },
  { key: 'event_type', label: 'Event type', placeholder: 'e.g. request_approved' },
  { key: 'since', label: 'Created from', type: 'datetime' },
  { key: 'until', label: 'Created before', type: 'datetime' },
];
const LIMIT = 50;
const COUNT_CAP = 500;

export default function Deliveries() {
  const admin = useIsAdmin();
  const [f, setF] = useUrlFilters(KEYS);
  const offset = intParam(f.offset, 0);
  const query = { ...compact({ status: f.status, request_id: f.request_id, event_type: f.event_type, since: f.since, until: f.until }), limit: LIMIT, offset };
  const q = useQuery({ queryKey: ['deliveries', query], queryFn: () => call(api.GET('/v1/awe/admin/deliveries', { params: { query } })) });
  const rows = q.data ?? [];
  return (
    <>
      <div className="page-head">
        <h1>Deliveries</h1>
        {admin && <BulkRetry requestId={f.request_id} since={f.since} until={f.until} eventType={f.event_type} />}
      </div>
      <FilterForm defs={DEFS} values={f} onApply={setF} />
      <ErrorBanner error={q.error} />
      {q.isPending ? <Loading /> : rows.length === 0 ? <Empty>No deliveries match.</Empty> : <DeliveryTable rows={rows} admin={admin} />}
      {!q.isPending && <OffsetPager offset={offset} limit={LIMIT} count={rows.length} onChange={(o) => setF({ offset: o ? String(o) : '' })} />}
    </>
  );
}

/** Retries every exhausted delivery matching the request and time filters, after saying how many. */
function BulkRetry({ requestId, since, until, eventType }: { requestId: string; since: string; until: string; eventType: string }) {
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const scope = compact({ request_id: requestId, since, until });
  const count = useQuery({
    queryKey: ['deliveries', 'exhausted-count', scope],
    queryFn: () => call(api.GET('/v1/awe/admin/deliveries', { params: { query: { ...scope, status: 'exhausted', limit: COUNT_CAP } } })),
    enabled: open,
  });
  const m = useMutation({
    mutationFn: () => call(api.POST('/v1/awe/admin/deliveries/retry', { body: { request_id: scope.request_id ?? null, since: scope.since ?? null, until: scope.until ?? null } })),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['deliveries'] }),
  });
  const n = count.data?.length;
  const result = m.data as unknown;
  const retried = typeof result === 'object' && result !== null ? Object.entries(result).find(([k, v]) => typeof v === 'number' && /retried|count|total/.test(k))?.[1] : undefined;
  return (
    <>
      <button type="button" onClick={() => (m.reset(), setOpen(true))}>
        Retry all exhausted matching
      </button>
      <ConfirmDialog
        open={open}
        title="Retry exhausted deliveries?"
        confirmLabel={m.isSuccess ? 'Done' : `Retry ${n ?? ''}`.trim()}
        busy={m.isPending || count.isPending}
        disabled={n === 0 && !m.isSuccess}
        error={count.error ?? m.error}
        onCancel={() => setOpen(false)}
        onConfirm={() => (m.isSuccess ? setOpen(false) : m.mutate())}
      >
        {count.isPending ? (
          <p>Counting…</p>
        ) : n !== undefined ? (
          <p>
            <strong>{n === COUNT_CAP ? `${COUNT_CAP} or more` : n}</strong> exhausted deliver{n === 1 ? 'y' : 'ies'}
            {requestId ? ` of request ${requestId}` : ''}
            {since ? (
              <>
                {' '}
                created from <Time value={since} />
              </>
            ) : null}
            {until ? (
              <>
                {' '}
                before <Time value={until} />
              </>
            ) : null}{' '}
            will be sent again from attempt 1.
          </p>
        ) : null}
        {eventType && <p className="warn-note">The bulk retry does not filter by event type: every exhausted delivery in this scope is retried.</p>}
        {m.isSuccess && <p role="status">Retry queued{typeof retried === 'number' ? ` for ${retried}` : ''}.</p>}
      </ConfirmDialog>
    </>
  );
}
