import { useState } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, call } from '../api/client';
import type { RequestOut, StageProgress, TaskOut } from '../api/types';
import { useIsAdmin } from '../auth/AuthProvider';
import { TextField } from '../components/Field';
import { Time } from '../components/Time';
import { Badge, ConfirmDialog, Empty, ErrorBanner, Id, JsonView, Loading, Section } from '../components/ui';
import { buildTimeline, EVENT_LABELS, progressText, toneOf, type TimelineItem } from '../lib/timeline';
import { refreshSoon } from '../lib/refresh';
import { DeliveryTable } from './DeliveryTable';
import { ReassignButton } from './taskActions';

const OPEN = ['pending', 'in_review'];

export default function RequestDetail() {
  const id = useParams().id!;
  const admin = useIsAdmin();
  const req = useQuery({ queryKey: ['request', id], queryFn: () => call(api.GET('/v1/awe/requests/{request_id}', { params: { path: { request_id: id } } })) });
  const tasks = useQuery({
    queryKey: ['request', id, 'tasks'],
    queryFn: () => call(api.GET('/v1/awe/tasks', { params: { query: { request_id: id, assignee: '', page_size: 100 } } })),
  });
  const events = useQuery({ queryKey: ['request', id, 'events'], queryFn: () => call(api.GET('/v1/awe/requests/{request_id}/events', { params: { path: { request_id: id } } })) });
  const deliveries = useQuery({ queryKey: ['deliveries', { request_id: id }], queryFn: () => call(api.GET('/v1/awe/admin/deliveries', { params: { query: { request_id: id, limit: 100 } } })) });
  const r = req.data;
  return (
    <>
      <p className="crumbs">
        <Link to="/requests">Requests</Link> /
      </p>
      <ErrorBanner error={req.error} />
      {req.isPending && <Loading />}
      {r && (
        <>
          <div className="page-head">
            <h1>
              Request <code>{r.id.slice(0, 8)}</code> <Badge value={r.status} />
            </h1>
            {admin && <AdminActions request={r} />}
          </div>
          <Section title="Request">
            <dl className="facts">
              <dt>Id</dt>
              <dd>
                <Id value={r.id} />
              </dd>
              <dt>Policy</dt>
              <dd>
                <Link to={`/policies/${encodeURIComponent(r.policy_key)}/v/${r.policy_version}`}>
                  {r.policy_key} v{r.policy_version}
                </Link>
              </dd>
              <dt>Artifact</dt>
              <dd>
                {r.artifact_type} / <Id value={r.artifact_id} />
              </dd>
              <dt>Requester</dt>
              <dd>{r.requester}</dd>
              <dt>Caller service</dt>
              <dd>{r.source_service}</dd>
              <dt>Current stage</dt>
              <dd>{r.current_stage_order}</dd>
              <dt>Callback URL</dt>
              <dd>{r.callback_url ?? <span className="muted">none</span>}</dd>
              <dt>Created</dt>
              <dd>
                <Time value={r.created_at} />
              </dd>
              <dt>Updated</dt>
              <dd>
                <Time value={r.updated_at} />
              </dd>
              <dt>Completed</dt>
              <dd>
                <Time value={r.completed_at} />
              </dd>
            </dl>
          </Section>
          <Section title="Stages">{r.stages?.length ? <StageList stages={r.stages} /> : <Empty>No stage progress reported.</Empty>}</Section>
          <Section title="Tasks by stage">
            <ErrorBanner error={tasks.error} />
            {tasks.isPending ? <Loading /> : <TasksByStage tasks={tasks.data?.items ?? []} admin={admin && OPEN.includes(r.status)} />}
          </Section>
          <Section title="Timeline">
            <ErrorBanner error={events.error} />
            {events.isPending ? <Loading /> : <Timeline items={buildTimeline(events.data ?? [], tasks.data?.items ?? [])} />}
          </Section>
          <Section title="Context">
            <JsonView value={r.context} label="Request context" />
          </Section>
          <Section title="Deliveries">
            <ErrorBanner error={deliveries.error} />
            {deliveries.isPending ? <Loading /> : deliveries.data?.length ? <DeliveryTable rows={deliveries.data} admin={admin} showRequest={false} /> : <Empty>No webhook deliveries (no callback URL, or nothing sent yet).</Empty>}
          </Section>
        </>
      )}
    </>
  );
}

function AdminActions({ request: r }: { request: RequestOut }) {
  const qc = useQueryClient();
  const [cancelOpen, setCancelOpen] = useState(false);
  const [redriveOpen, setRedriveOpen] = useState(false);
  const [reason, setReason] = useState('');
  const refresh = () => refreshSoon(() => void qc.invalidateQueries({ queryKey: ['request', r.id] }));
  const cancel = useMutation({
    mutationFn: () => call(api.POST('/v1/awe/requests/{request_id}/cancel', { params: { path: { request_id: r.id } }, body: { reason: reason.trim() || null } })),
    onSuccess: () => {
      setCancelOpen(false);
      refresh();
      void qc.invalidateQueries({ queryKey: ['requests'] });
    },
  });
  const redrive = useMutation({
    mutationFn: () => call(api.POST('/v1/awe/admin/requests/{request_id}/resolve', { params: { path: { request_id: r.id } } })),
    onSuccess: () => {
      setRedriveOpen(false);
      refresh();
    },
  });
  if (!OPEN.includes(r.status)) return null;
  return (
    <div className="row-actions">
      <button type="button" onClick={() => (redrive.reset(), setRedriveOpen(true))} disabled={redrive.isPending}>
        {redrive.isPending ? 'Re-driving…' : 'Re-drive resolution'}
      </button>
      <button type="button" className="danger" onClick={() => (cancel.reset(), setCancelOpen(true))}>
        Cancel request
      </button>
      {redrive.isSuccess && <span role="status">Resolution re-driven.</span>}
      <ConfirmDialog
        open={redriveOpen}
        title="Re-drive this request's resolution?"
        confirmLabel="Re-drive resolution"
        busy={redrive.isPending}
        error={redrive.error}
        onCancel={() => setRedriveOpen(false)}
        onConfirm={() => redrive.mutate()}
      >
        <p>
          AWE asks the resolver again for the approvers of every stage of this request that is waiting for them (stage {r.current_stage_order} and
          any stage of its parallel group). Stages that already have tasks keep them; nothing is decided or sent to the caller until the resolution is
          applied.
        </p>
      </ConfirmDialog>
      <ConfirmDialog
        open={cancelOpen}
        title="Cancel this request?"
        confirmLabel="Cancel request"
        danger
        busy={cancel.isPending}
        error={cancel.error}
        onCancel={() => setCancelOpen(false)}
        onConfirm={() => cancel.mutate()}
      >
        <p>
          The request ends as cancelled; its open tasks are closed and the caller is told by webhook. This cannot be undone.
        </p>
        <TextField label="Reason" value={reason} onChange={setReason} />
      </ConfirmDialog>
    </div>
  );
}

function StageList({ stages }: { stages: readonly StageProgress[] }) {
  return (
    <ol className="progress">
      {stages.map((s) => (
        <li key={s.stage_order} className={s.stalled ? 'stalled' : ''}>
          <div>
            <strong>
              {s.stage_order}. {s.name}
            </strong>{' '}
            <Badge value={s.status} /> {s.stalled && <Badge value="stalled" />} {s.escalated && <Badge value="escalated" />}
          </div>
          <div>{progressText(s)}</div>
          <div className="muted">
            {s.open_tasks} open, {s.closed_tasks} closed · started <Time value={s.started_at} />
            {s.completed_at && (
              <>
                {' '}
                · ended <Time value={s.completed_at} />
              </>
            )}
          </div>
          {s.stalled && s.stalled_reason && <div className="warn-note">Stalled: {s.stalled_reason}</div>}
          {s.reason && <div>Reason: {s.reason}</div>}
        </li>
      ))}
    </ol>
  );
}

function TasksByStage({ tasks, admin }: { tasks: readonly TaskOut[]; admin: boolean }) {
  if (tasks.length === 0) return <Empty>No tasks.</Empty>;
  const byStage = new Map<number, TaskOut[]>();
  for (const t of [...tasks].sort((a, b) => a.created_at.localeCompare(b.created_at))) byStage.set(t.stage_order, [...(byStage.get(t.stage_order) ?? []), t]);
  return (
    <>
      {[...byStage].sort(([a], [b]) => a - b).map(([order, list]) => (
        <table key={order} className="compact">
          <caption>Stage {order}</caption>
          <thead>
            <tr>
              <th scope="col">Assignee</th>
              <th scope="col">Kind</th>
              <th scope="col">Status</th>
              <th scope="col">Decision</th>
              <th scope="col">Due</th>
              <th scope="col">Task</th>
              {admin && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {list.map((t) => (
              <tr key={t.id}>
                <td>
                  {t.assignee}
                  {t.delegated_from && <span className="mark"> delegated from {t.delegated_from}</span>}
                  {t.reassigned_from && <span className="mark"> reassigned from {t.reassigned_from}</span>}
                </td>
                <td>{t.kind}</td>
                <td>
                  <Badge value={t.status} />
                </td>
                <td>
                  {t.decision_action ?? <span className="muted">—</span>}
                  {t.decision_comment && <q className="comment">{t.decision_comment}</q>}
                </td>
                <td>
                  <Time value={t.due_at} />
                </td>
                <td>
                  <Id value={t.id} short />
                </td>
                {admin && (
                  <td>
                    <ReassignButton task={t} />
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      ))}
    </>
  );
}

function str(v: unknown): string {
  return Array.isArray(v) ? v.join(', ') : v === null || v === undefined ? '' : String(v);
}

function detailOf(i: TimelineItem): string[] {
  const p = i.payload;
  const out: string[] = [];
  const add = (label: string, v: unknown) => {
    const s = str(v);
    if (s) out.push(`${label}: ${s}`);
  };
  switch (i.type) {
    case 'request_created':
      add('Policy', p.policy_key ? `${str(p.policy_key)} v${str(p.policy_version)}` : '');
      break;
    case 'stage_started':
      add('Stage', p.name);
      add('Mode', p.mode_value != null ? `${str(p.mode)} ${str(p.mode_value)}` : p.mode);
      add('Approvers', p.approvers);
      add('Required', p.required_approvers);
      add('Observers', p.observers);
      break;
    case 'stage_completed':
      add('Outcome', p.outcome);
      break;
    case 'stage_skipped':
    case 'request_approved':
    case 'stage_resolution_failed':
      add('Reason', p.reason);
      break;
    case 'stage_escalated':
      add('Added approvers', p.added_approvers);
      add('By', p.actor);
      break;
    case 'request_rejected':
      add('By', p.actor);
      add('Reason', p.reason);
      break;
    case 'request_cancelled':
      add('By', p.actor);
      add('Reason', p.reason);
      break;
    case 'task_expired':
      add('Assignee', p.assignee);
      add('Was due', p.due_at);
      break;
    case 'task_reassigned':
      add('From', p.from);
      add('To', p.to);
      add('By', p.actor);
      add('Reason', p.reason);
      break;
    case 'task_claimed':
      add('By', p.assignee ?? p.actor);
      break;
    case 'decision_submitted':
      add('Action', p.action);
      add('By', p.actor_name ? `${str(p.actor_name)} (${str(p.actor)})` : p.actor);
      add('Task of', p.assignee);
      break;
    case 'comment_added':
      add('By', p.actor_name ? `${str(p.actor_name)} (${str(p.actor)})` : p.actor);
      break;
    case 'due':
      break;
  }
  return out;
}

function Timeline({ items }: { items: readonly TimelineItem[] }) {
  if (items.length === 0) return <Empty>No events.</Empty>;
  return (
    <ol className="timeline">
      {items.map((i) => {
        const comment = typeof i.payload.comment === 'string' ? i.payload.comment : null;
        return (
          <li key={i.key} className={`tl tl-${toneOf(i.type, i.payload)}${i.upcoming ? ' upcoming' : ''}`}>
            <div className="tl-head">
              <strong>{EVENT_LABELS[i.type] ?? i.type}</strong>
              {i.type === 'decision_submitted' && typeof i.payload.action === 'string' && <Badge value={i.payload.action === 'approve' ? 'approved' : i.payload.action === 'reject' ? 'rejected' : 'skipped'} label={i.payload.action} />}
              {i.stageOrder !== null && <span className="muted"> · stage {i.stageOrder}</span>}
              {i.upcoming && <span className="muted"> (upcoming)</span>} · <Time value={i.at} />
            </div>
            {detailOf(i).map((d) => (
              <div key={d}>{d}</div>
            ))}
            {comment && <blockquote>{comment}</blockquote>}
          </li>
        );
      })}
    </ol>
  );
}
