import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, call, compact } from '../api/client';
import { FilterForm, type FilterDef } from '../components/FilterForm';
import { Time } from '../components/Time';
import { Badge, Empty, ErrorBanner, Loading, OffsetPager } from '../components/ui';
import { intParam, useUrlFilters } from '../lib/useUrlFilters';

const KEYS = ['status', 'policy_key', 'artifact_type', 'artifact_id', 'requester', 'created_since', 'created_until', 'offset'] as const;
export const REQUEST_STATUSES = ['pending', 'in_review', 'approved', 'rejected', 'cancelled', 'expired'];
const DEFS: FilterDef<(typeof KEYS)[number]>[] = [
  { key: 'status', label: 'Status', type: 'select', options: REQUEST_STATUSES.map((s) => ({ value: s, label: s.replace('_', ' ') })) },
  { key: 'policy_key', label: 'Policy key' },
  { key: 'artifact_type', label: 'Artifact type' },
  { key: 'artifact_id', label: 'Artifact id' },
  { key: 'requester', label: 'Requester' },
  { key: 'created_since', label: 'Created from', type: 'datetime' },
  { key: 'created_until', label: 'Created before', type: 'datetime' },
];
const LIMIT = 25;

export default function Requests() {
  const [f, setF] = useUrlFilters(KEYS);
  const offset = intParam(f.offset, 0);
  const { offset: _o, ...filters } = f;
  void _o;
  const query = { ...compact(filters), limit: LIMIT, offset };
  const q = useQuery({ queryKey: ['requests', query], queryFn: () => call(api.GET('/v1/awe/requests', { params: { query } })) });
  const rows = q.data ?? [];
  return (
    <>
      <h1>Requests</h1>
      <FilterForm defs={DEFS} values={f} onApply={setF} />
      <ErrorBanner error={q.error} />
      {q.isPending ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>No requests match.</Empty>
      ) : (
        <table>
          <caption className="sr-only">Requests, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Request</th>
              <th scope="col">Status</th>
              <th scope="col">Policy</th>
              <th scope="col">Artifact</th>
              <th scope="col">Requester</th>
              <th scope="col">Stage</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={r.id}>
                <td>
                  <Link to={`/requests/${r.id}`} aria-label={`Request ${r.id}`}>
                    <code>{r.id.slice(0, 8)}</code>
                  </Link>
                </td>
                <td>
                  <Badge value={r.status} />
                </td>
                <td>
                  <Link to={`/policies/${encodeURIComponent(r.policy_key)}/v/${r.policy_version}`}>
                    {r.policy_key} v{r.policy_version}
                  </Link>
                </td>
                <td>
                  {r.artifact_type}/{r.artifact_id}
                </td>
                <td>{r.requester}</td>
                <td>{r.current_stage_order}</td>
                <td>
                  <Time value={r.created_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {!q.isPending && <OffsetPager offset={offset} limit={LIMIT} count={rows.length} onChange={(o) => setF({ offset: o ? String(o) : '' })} />}
    </>
  );
}
