import { Fragment, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, call, compact } from '../api/client';
import type { AuditActionOut } from '../api/types';
import { DiffView } from '../components/DiffView';
import { FilterForm, type FilterDef } from '../components/FilterForm';
import { Time } from '../components/Time';
import { Empty, ErrorBanner, JsonView, Loading, OffsetPager } from '../components/ui';
import { diff } from '../lib/diff';
import { intParam, useUrlFilters } from '../lib/useUrlFilters';

const KEYS = ['actor', 'action', 'resource_type', 'resource_id', 'since', 'until', 'offset'] as const;
const ACTIONS = ['policy.create', 'policy.add_version', 'policy.update', 'policy.activate', 'policy.deactivate', 'request.cancel', 'task.reassign', 'delegation.create', 'delegation.delete', 'delivery.retry'];
const DEFS: FilterDef<(typeof KEYS)[number]>[] = [
  { key: 'actor', label: 'Actor' },
  { key: 'action', label: 'Action', placeholder: ACTIONS.slice(0, 2).join(', ') + '…' },
  { key: 'resource_type', label: 'Resource type', type: 'select', options: ['policy', 'request', 'task', 'delegation', 'delivery', 'callback_secret'].map((s) => ({ value: s, label: s })) },
  { key: 'resource_id', label: 'Resource id' },
  { key: 'since', label: 'From', type: 'datetime' },
  { key: 'until', label: 'Before', type: 'datetime' },
];
const LIMIT = 50;

export default function Audit() {
  const [f, setF] = useUrlFilters(KEYS);
  const offset = intParam(f.offset, 0);
  const { offset: _o, ...filters } = f;
  void _o;
  const query = { ...compact(filters), limit: LIMIT, offset };
  const q = useQuery({ queryKey: ['audit', query], queryFn: () => call(api.GET('/v1/awe/admin/audit', { params: { query } })) });
  const [open, setOpen] = useState<ReadonlySet<string>>(new Set());
  const toggle = (id: string) =>
    setOpen((s) => {
      const n = new Set(s);
      if (n.has(id)) n.delete(id);
      else n.add(id);
      return n;
    });
  const rows = q.data ?? [];
  return (
    <>
      <h1>Audit log</h1>
      <FilterForm defs={DEFS} values={f} onApply={setF} />
      <ErrorBanner error={q.error} />
      {q.isPending ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>No audit entries match.</Empty>
      ) : (
        <table>
          <caption className="sr-only">Audit entries, newest first</caption>
          <thead>
            <tr>
              <th scope="col">
                <span className="sr-only">Details</span>
              </th>
              <th scope="col">When</th>
              <th scope="col">Actor</th>
              <th scope="col">Action</th>
              <th scope="col">Resource</th>
              <th scope="col">Summary</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((a) => (
              <Fragment key={a.id}>
                <tr>
                  <td>
                    <button type="button" className="small ghost" aria-expanded={open.has(a.id)} aria-controls={`audit-${a.id}`} aria-label={`Details of ${a.action} on ${a.resource_id}`} onClick={() => toggle(a.id)}>
                      {open.has(a.id) ? '▾' : '▸'}
                    </button>
                  </td>
                  <td>
                    <Time value={a.occurred_at} />
                  </td>
                  <td>
                    {a.actor}
                    {a.actor_email && <span className="muted"> {a.actor_email}</span>}
                  </td>
                  <td>
                    <code>{a.action}</code>
                  </td>
                  <td>
                    {a.resource_type} <code className="wrap">{a.resource_id}</code>
                  </td>
                  <td>{a.summary}</td>
                </tr>
                {open.has(a.id) && (
                  <tr id={`audit-${a.id}`} className="expanded">
                    <td colSpan={6}>
                      <AuditDetail entry={a} />
                    </td>
                  </tr>
                )}
              </Fragment>
            ))}
          </tbody>
        </table>
      )}
      {!q.isPending && <OffsetPager offset={offset} limit={LIMIT} count={rows.length} onChange={(o) => setF({ offset: o ? String(o) : '' })} />}
    </>
  );
}

function AuditDetail({ entry: a }: { entry: AuditActionOut }) {
  const metadata = a.metadata ?? a.metadata_ ?? null;
  const hasChange = a.before != null || a.after != null;
  return (
    <div className="audit-detail">
      <h3>Change</h3>
      {a.before == null && a.after != null && <p className="muted">No before state was recorded: every field shows as added.</p>}
      {a.after == null && a.before != null && <p className="muted">No after state was recorded: every field shows as removed.</p>}
      {hasChange ? <DiffView changes={diff(a.before ?? {}, a.after ?? {})} beforeLabel="Before" afterLabel="After" /> : <Empty>No before/after recorded.</Empty>}
      <h3>Metadata</h3>
      {metadata ? <JsonView value={metadata} label="Audit metadata" /> : <Empty>None.</Empty>}
    </div>
  );
}
