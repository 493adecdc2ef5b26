// The policy editor's model: a form state that can hold half-typed values
// (numbers and JSONLogic as text), and its conversions to and from PolicyIn.
import type { OnBreach, OnEmpty, PolicyIn, RuleIn, RuleKind, RuleType, StageIn, StageMode } from '../api/types';
import { checkOptionalJson, describeJsonError, pretty } from './jsonfield';

export const RULE_TYPES: readonly RuleType[] = ['user', 'role', 'group', 'expression', 'http'];
export const STAGE_MODES: readonly StageMode[] = ['all', 'any-n', 'quorum', 'percentage'];
export const ON_EMPTY: readonly OnEmpty[] = ['block', 'skip'];
export const ON_BREACH: readonly OnBreach[] = ['notify', 'auto_approve', 'auto_reject', 'escalate'];

/** The keys of `rule_value` each type uses; other keys are kept as they were. */
export const RULE_VALUE_KEYS: Record<RuleType, readonly string[]> = {
  user: ['user_id'],
  role: ['role', 'client'],
  group: ['group'],
  expression: ['logic'],
  http: ['url'],
};

export interface RuleForm {
  rule_type: RuleType;
  kind: RuleKind;
  required: boolean;
  user_id: string;
  role: string;
  client: string;
  group: string;
  /** JSONLogic as text. */
  logic: string;
  url: string;
  /** Keys of rule_value the form does not know, kept for the round trip. */
  extra: Record<string, unknown>;
}

export interface StageForm {
  name: string;
  stage_order: string;
  mode: StageMode;
  mode_value: string;
  sla_hours: string;
  /** JSONLogic as text; blank = none. */
  skip_if: string;
  on_empty: OnEmpty;
  parallel_group: string;
  on_breach: OnBreach | '';
  rules: RuleForm[];
  escalation_rules: RuleForm[];
}

export interface PolicyForm {
  policy_key: string;
  name: string;
  description: string;
  artifact_type: string;
  forbid_self_approval: boolean;
  forbid_repeat_approvers: boolean;
  stages: StageForm[];
  /** The declared context (`expected_context`) as JSON text; blank = none. */
  expected_context: string;
}

export function emptyRule(): RuleForm {
  return { rule_type: 'user', kind: 'approver', required: false, user_id: '', role: '', client: '', group: '', logic: '', url: '', extra: {} };
}

export function emptyStage(order: number): StageForm {
  return {
    name: '',
    stage_order: String(order),
    mode: 'all',
    mode_value: '',
    sla_hours: '',
    skip_if: '',
    on_empty: 'block',
    parallel_group: '',
    on_breach: '',
    rules: [emptyRule()],
    escalation_rules: [],
  };
}

export function emptyPolicy(): PolicyForm {
  return { policy_key: '', name: '', description: '', artifact_type: '', forbid_self_approval: false, forbid_repeat_approvers: false, stages: [emptyStage(1)], expected_context: '' };
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : String(v);
}

function num(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : '';
}

function ruleFromIn(r: Partial<RuleIn> | undefined): RuleForm {
  const value = (r?.rule_value ?? {}) as Record<string, unknown>;
  const type = (RULE_TYPES as readonly string[]).includes(str(r?.rule_type)) ? (r!.rule_type as RuleType) : 'user';
  const extra: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (!RULE_VALUE_KEYS[type].includes(k)) extra[k] = v;
  return {
    rule_type: type,
    kind: r?.kind === 'observer' ? 'observer' : 'approver',
    required: Boolean(r?.required),
    user_id: str(value.user_id),
    role: str(value.role),
    client: str(value.client),
    group: str(value.group),
    logic: value.logic === undefined ? '' : pretty(value.logic),
    url: str(value.url),
    extra,
  };
}

/** Any policy-shaped object (PolicyIn, PolicyOut, hand-written JSON) → form. */
export function formFromPolicy(p: Partial<PolicyIn> & Record<string, unknown>): PolicyForm {
  const stages = Array.isArray(p.stages) ? (p.stages as Partial<StageIn>[]) : [];
  return {
    policy_key: str(p.policy_key),
    name: str(p.name),
    description: str(p.description),
    artifact_type: str(p.artifact_type),
    forbid_self_approval: Boolean(p.forbid_self_approval),
    forbid_repeat_approvers: Boolean(p.forbid_repeat_approvers),
    stages: stages.map((s) => ({
      name: str(s.name),
      stage_order: num(s.stage_order),
      mode: (STAGE_MODES as readonly string[]).includes(str(s.mode).toLowerCase()) ? (str(s.mode).toLowerCase() as StageMode) : 'all',
      mode_value: num(s.mode_value),
      sla_hours: num(s.sla_hours),
      skip_if: s.skip_if === undefined || s.skip_if === null ? '' : pretty(s.skip_if),
      on_empty: s.on_empty === 'skip' ? 'skip' : 'block',
      parallel_group: num(s.parallel_group),
      on_breach: (ON_BREACH as readonly string[]).includes(str(s.on_breach)) ? (s.on_breach as OnBreach) : '',
      rules: (Array.isArray(s.rules) ? s.rules : []).map(ruleFromIn),
      escalation_rules: (Array.isArray(s.escalation_rules) ? s.escalation_rules : []).map(ruleFromIn),
    })),
    expected_context: p.expected_context === undefined || p.expected_context === null ? '' : pretty(p.expected_context),
  };
}

export interface FormResult {
  value: PolicyIn;
  /** Client-side problems keyed by the same paths the server uses. */
  errors: Map<string, string[]>;
}

function add(errors: Map<string, string[]>, path: string, message: string) {
  errors.set(path, [...(errors.get(path) ?? []), message]);
}

function int(text: string, path: string, errors: Map<string, string[]>, required: boolean): number | null {
  const t = text.trim();
  if (t === '') {
    if (required) add(errors, path, 'is required');
    return null;
  }
  if (!/^-?\d+$/.test(t)) {
    add(errors, path, 'must be a whole number');
    return null;
  }
  return Number(t);
}

function ruleToIn(r: RuleForm, path: string, errors: Map<string, string[]>): RuleIn {
  const value: Record<string, unknown> = { ...r.extra };
  switch (r.rule_type) {
    case 'user':
      value.user_id = r.user_id;
      break;
    case 'role':
      value.role = r.role;
      if (r.client.trim()) value.client = r.client;
      break;
    case 'group':
      value.group = r.group;
      break;
    case 'http':
      value.url = r.url;
      break;
    case 'expression': {
      const check = checkOptionalJson(r.logic);
      if (!check.ok) add(errors, `${path}.rule_value.logic`, describeJsonError(check));
      else if (check.value === null) add(errors, `${path}.rule_value.logic`, 'is required');
      else value.logic = check.value;
      break;
    }
  }
  return { rule_type: r.rule_type, rule_value: value as RuleIn['rule_value'], kind: r.kind, required: r.kind === 'approver' && r.required };
}

/** Form → the document to send. Fields that cannot be converted are named in `errors`. */
export function policyFromForm(f: PolicyForm): FormResult {
  const errors = new Map<string, string[]>();
  const stages: StageIn[] = f.stages.map((s, i) => {
    const at = `stages[${i}]`;
    const skip = checkOptionalJson(s.skip_if);
    if (!skip.ok) add(errors, `${at}.skip_if`, describeJsonError(skip));
    let sla: number | null = null;
    if (s.sla_hours.trim()) {
      const n = Number(s.sla_hours);
      if (!Number.isFinite(n)) add(errors, `${at}.sla_hours`, 'must be a number of hours');
      else sla = n;
    }
    return {
      name: s.name,
      stage_order: int(s.stage_order, `${at}.stage_order`, errors, true) ?? 0,
      mode: s.mode,
      mode_value: int(s.mode_value, `${at}.mode_value`, errors, false),
      sla_hours: sla,
      skip_if: (skip.ok ? skip.value : null) as StageIn['skip_if'],
      on_empty: s.on_empty,
      parallel_group: int(s.parallel_group, `${at}.parallel_group`, errors, false),
      on_breach: s.on_breach === '' ? null : s.on_breach,
      escalation_rules: s.escalation_rules.map((r, j) => ruleToIn(r, `${at}.escalation_rules[${j}]`, errors)),
      rules: s.rules.map((r, j) => ruleToIn(r, `${at}.rules[${j}]`, errors)),
    };
  });
  const value: PolicyIn = {
    policy_key: f.policy_key,
    name: f.name,
    description: f.description.trim() === '' ? null : f.description,
    artifact_type: f.artifact_type,
    forbid_self_approval: f.forbid_self_approval,
    forbid_repeat_approvers: f.forbid_repeat_approvers,
    stages,
  };
  const expected = checkOptionalJson(f.expected_context, true);
  if (!expected.ok) add(errors, 'expected_context', describeJsonError(expected));
  else if (expected.value !== null) value.expected_context = expected.value as PolicyIn['expected_context'];
  return { value, errors };
}

/** PolicyOut → the PolicyIn it was made from (drops ids, status, timestamps). */
export function policyInFromOut(p: Partial<PolicyIn> & Record<string, unknown>): PolicyIn {
  return policyFromForm(formFromPolicy(p)).value;
}
