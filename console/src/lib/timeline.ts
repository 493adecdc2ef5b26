import type { EventOut, TaskOut } from '../api/types';

export const EVENT_LABELS: Record<string, string> = {
  request_created: 'Request created',
  stage_started: 'Stage started',
  stage_completed: 'Stage completed',
  stage_skipped: 'Stage skipped',
  stage_escalated: 'Stage escalated',
  stage_quorum_skipped: 'Remaining tasks closed (quorum reached)',
  stage_resolution_failed: 'Approver resolution failed',
  request_approved: 'Request approved',
  request_rejected: 'Request rejected',
  request_cancelled: 'Request cancelled',
  task_expired: 'SLA breach: task expired',
  task_reassigned: 'Task reassigned',
  task_claimed: 'Task claimed',
  decision_submitted: 'Decision',
  comment_added: 'Comment',
  due: 'Due',
};

export type TimelineTone = 'start' | 'ok' | 'bad' | 'warn' | 'info' | 'due';

export function toneOf(type: string, payload: Record<string, unknown>): TimelineTone {
  switch (type) {
    case 'request_created':
    case 'stage_started':
      return 'start';
    case 'request_approved':
      return 'ok';
    case 'stage_completed':
      return payload.outcome === 'rejected' ? 'bad' : 'ok';
    case 'decision_submitted':
      return payload.action === 'reject' ? 'bad' : payload.action === 'approve' ? 'ok' : 'info';
    case 'request_rejected':
    case 'request_cancelled':
    case 'stage_resolution_failed':
      return 'bad';
    case 'task_expired':
    case 'stage_escalated':
      return 'warn';
    case 'due':
      return 'due';
    default:
      return 'info';
  }
}

export interface TimelineItem {
  key: string;
  type: string;
  at: string;
  stageOrder: number | null;
  payload: Record<string, unknown>;
  /** A due time still ahead. */
  upcoming?: boolean;
}

/** Events oldest first, with each stage's due time (from its approver tasks) placed where it falls. */
export function buildTimeline(events: readonly EventOut[], tasks: readonly TaskOut[], now = Date.now()): TimelineItem[] {
  const items: TimelineItem[] = events.map((e) => {
    const payload = (e.payload ?? {}) as Record<string, unknown>;
    return { key: e.id, type: e.event_type, at: e.created_at, stageOrder: typeof payload.stage_order === 'number' ? payload.stage_order : null, payload };
  });
  const dues = new Map<string, { at: string; stage: number }>();
  // Only where the due time still matters: tasks open now, or expired at it.
  for (const t of tasks) if (t.due_at && t.kind === 'approver' && ['open', 'claimed', 'expired'].includes(t.status)) dues.set(`${t.stage_order}@${t.due_at}`, { at: t.due_at, stage: t.stage_order });
  for (const [k, d] of dues) items.push({ key: `due-${k}`, type: 'due', at: d.at, stageOrder: d.stage, payload: { stage_order: d.stage }, upcoming: Date.parse(d.at) > now });
  return items.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

/** "2 of 3 approvals, alice required". */
export function progressText(p: { approvals: number; approvals_needed: number; required_missing: readonly string[] }): string {
  const base = `${p.approvals} of ${p.approvals_needed} approval${p.approvals_needed === 1 ? '' : 's'}`;
  return p.required_missing.length ? `${base}, ${p.required_missing.join(', ')} required` : base;
}
