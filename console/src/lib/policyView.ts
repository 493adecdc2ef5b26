import type { StageOut } from '../api/types';

export interface StageGroup {
  parallelGroup: number | null;
  stages: StageOut[];
}

/**
 * Stages in run order: sorted by stage_order, those sharing a parallel_group
 * run together, the group placed at its smallest stage_order (the spec).
 */
export function groupStages(stages: readonly StageOut[]): StageGroup[] {
  const sorted = [...stages].sort((a, b) => a.stage_order - b.stage_order);
  const out: StageGroup[] = [];
  const byGroup = new Map<number, StageGroup>();
  for (const s of sorted) {
    if (s.parallel_group == null) {
      out.push({ parallelGroup: null, stages: [s] });
      continue;
    }
    const g = byGroup.get(s.parallel_group);
    if (g) g.stages.push(s);
    else {
      const ng = { parallelGroup: s.parallel_group, stages: [s] };
      byGroup.set(s.parallel_group, ng);
      out.push(ng);
    }
  }
  return out;
}

/** A rule value in one line: `alice`, `approver (client registry)`, `/finance`, the JSONLogic, the URL. */
export function ruleValueText(type: string, value: unknown): string {
  const v = (value ?? {}) as Record<string, unknown>;
  switch (type) {
    case 'user':
      return String(v.user_id ?? JSON.stringify(v));
    case 'role':
      return `${String(v.role ?? '?')}${v.client ? ` (client ${String(v.client)})` : ' (realm)'}`;
    case 'group':
      return String(v.group ?? JSON.stringify(v));
    case 'expression':
      return JSON.stringify(v.logic ?? v);
    case 'http':
      return String(v.url ?? JSON.stringify(v));
    default:
      return JSON.stringify(v);
  }
}
