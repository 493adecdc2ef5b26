import { describe, expect, it } from 'vitest';
import { buildTimeline, progressText } from './timeline';

describe('timeline', () => {
  it('says where a stage stands', () => {
    expect(progressText({ approvals: 2, approvals_needed: 3, required_missing: ['alice'] })).toBe('2 of 3 approvals, alice required');
    expect(progressText({ approvals: 0, approvals_needed: 1, required_missing: [] })).toBe('0 of 1 approval');
  });

  it('places due times among events', () => {
    const ev = (id: string, at: string, type: string) => ({ id, request_id: 'r', event_type: type, payload: { stage_order: 1 } as never, created_at: at, seq: 1 });
    const task = { id: 't', request_id: 'r', stage_id: 's', stage_order: 1, assignee: 'a', kind: 'approver', status: 'open', created_at: '2026-01-01T00:00:00Z', due_at: '2026-01-01T02:00:00Z' };
    const items = buildTimeline([ev('1', '2026-01-01T00:00:00Z', 'stage_started'), ev('2', '2026-01-01T03:00:00Z', 'task_expired')], [task], Date.parse('2026-01-02T00:00:00Z'));
    expect(items.map((i) => i.type)).toEqual(['stage_started', 'due', 'task_expired']);
    expect(items[1].upcoming).toBe(false);
  });
});
