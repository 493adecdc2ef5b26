import { useQuery } from '@tanstack/react-query';
import { Link } from 'react-router';
import { api, call, compact } from '../api/client';
import type { operations } from '../api/schema';
import { useIsAdmin } from '../auth/AuthProvider';
import { FilterForm, type FilterDef } from '../components/FilterForm';
import { Time } from '../components/Time';
import { Badge, Empty, ErrorBanner, Loading, PagePager } from '../components/ui';
import { intParam, useUrlFilters } from '../lib/useUrlFilters';
import { ReassignButton } from './taskActions';

const KEYS = ['status', 'overdue', 'assignee', 'policy_key', 'stage_order', 'page'] as const;
const STATUSES = ['open', 'claimed', 'completed', 'skipped', 'expired', 'reassigned'];
const DEFS: FilterDef<(typeof KEYS)[number]>[] = [
  { key: 'status', label: 'Status', type: 'select', options: STATUSES.map((s) => ({ value: s, label: s })) },
  { key: 'assignee', label: 'Assignee', placeholder: 'everyone' },
  { key: 'policy_key', label: 'Policy key' },
  { key: 'stage_order', label: 'Stage order' },
  { key: 'overdue', label: 'Overdue only', type: 'checkbox' },
];
const TOTAL_LIMIT = 10_000;
type TaskQuery = NonNullable<operations['tasks_list']['parameters']['query']>;

export default function Tasks() {
  const admin = useIsAdmin();
  const [f, setF] = useUrlFilters(KEYS);
  const page = Math.max(1, intParam(f.page, 1));
  const stage = Number.parseInt(f.stage_order, 10);
  // An empty assignee means everyone (`*` has another meaning, see API.md §4.4).
  const query: TaskQuery = {
    ...compact({ status: f.status, policy_key: f.policy_key }),
    ...(Number.isInteger(stage) ? { stage_order: stage } : {}),
    ...(f.overdue === 'true' ? { overdue: true } : {}),
    assignee: f.assignee.trim(),
    page,
    page_size: 25,
    // Counting a million open tasks exactly is slow and tells an operator nothing more.
    total_limit: TOTAL_LIMIT,
  };
  const q = useQuery({ queryKey: ['tasks', query], queryFn: () => call(api.GET('/v1/awe/tasks', { params: { query } })) });
  const d = q.data;
  return (
    <>
      <h1>Tasks</h1>
      <FilterForm defs={DEFS} values={f} onApply={setF} />
      <ErrorBanner error={q.error} />
      {q.isPending ? (
        <Loading />
      ) : !d || d.items.length === 0 ? (
        <Empty>No tasks match.</Empty>
      ) : (
        <>
          <table>
            <caption className="sr-only">Tasks across people, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Assignee</th>
                <th scope="col">Status</th>
                <th scope="col">Request</th>
                <th scope="col">Policy</th>
                <th scope="col">Stage</th>
                <th scope="col">Kind</th>
                <th scope="col">Due</th>
                <th scope="col">Created</th>
                {admin && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {d.items.map((t) => {
                const overdue = t.due_at && ['open', 'claimed'].includes(t.status) && Date.parse(t.due_at) < Date.now();
                return (
                  <tr key={t.id}>
                    <td>
                      {t.assignee}
                      {t.delegated_from && <span className="mark"> delegated from {t.delegated_from}</span>}
                      {t.reassigned_from && <span className="mark"> reassigned from {t.reassigned_from}</span>}
                    </td>
                    <td>
                      <Badge value={t.status} /> {overdue && <Badge value="expired" label="overdue" />}
                    </td>
                    <td>
                      <Link to={`/requests/${t.request_id}`} aria-label={`Request ${t.request_id}`}>
                        <code>{t.request_id.slice(0, 8)}</code>
                      </Link>{' '}
                      {t.artifact_id && <span className="muted">{t.artifact_id}</span>}
                    </td>
                    <td>{t.policy_key}</td>
                    <td>{t.stage_order}</td>
                    <td>{t.kind}</td>
                    <td>
                      <Time value={t.due_at} />
                    </td>
                    <td>
                      <Time value={t.created_at} />
                    </td>
                    {admin && (
                      <td>
                        <ReassignButton task={t} />
                      </td>
                    )}
                  </tr>
                );
              })}
            </tbody>
          </table>
          <PagePager page={d.page} pages={d.pages} total={d.total} capped={d.total_capped} onChange={(p) => setF({ page: String(p) })} />
        </>
      )}
    </>
  );
}
