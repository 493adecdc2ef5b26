import { describe, expect, it } from 'vitest';
import type { PolicyIn } from '../api/types';
import { emptyPolicy, formFromPolicy, policyFromForm, policyInFromOut } from './policyForm';

const twoStage: PolicyIn = {
  policy_key: 'grant',
  name: 'Grant approval',
  description: null,
  artifact_type: 'grant',
  forbid_self_approval: true,
  forbid_repeat_approvers: false,
  stages: [
    {
      name: 'Review',
      stage_order: 1,
      mode: 'any-n',
      mode_value: 1,
      sla_hours: 0.5,
      skip_if: { '<': [{ var: 'amount' }, 100] } as never,
      on_empty: 'skip',
      parallel_group: 1,
      on_breach: 'escalate',
      escalation_rules: [{ rule_type: 'role', rule_value: { role: 'supervisor', client: 'registry' } as never, kind: 'approver', required: false }],
      rules: [
        { rule_type: 'user', rule_value: { user_id: 'alice' } as never, kind: 'approver', required: true },
        { rule_type: 'group', rule_value: { group: '/finance' } as never, kind: 'observer', required: false },
      ],
    },
    {
      name: 'Sign-off',
      stage_order: 2,
      mode: 'all',
      mode_value: null,
      sla_hours: null,
      skip_if: null,
      on_empty: 'block',
      parallel_group: null,
      on_breach: null,
      escalation_rules: [],
      rules: [
        { rule_type: 'expression', rule_value: { logic: { var: 'owner' } } as never, kind: 'approver', required: false },
        { rule_type: 'http', rule_value: { url: 'https://x.example/approvers', note: 'kept' } as never, kind: 'approver', required: false },
      ],
    },
  ],
};

describe('policy form round trip', () => {
  it('keeps a declared context, and a blank one is no declaration', () => {
    const declared = { ...twoStage, expected_context: { amount: { type: 'number' }, note: { type: ['string', 'null'], required: false } } } as PolicyIn;
    const form = formFromPolicy(declared as never);
    expect(policyFromForm(form).value.expected_context).toEqual(declared.expected_context);
    expect('expected_context' in policyFromForm({ ...form, expected_context: '  ' }).value).toBe(false);
    expect(policyFromForm({ ...form, expected_context: '[1]' }).errors.get('expected_context')).toBeTruthy();
  });

  it('document → form → document is the identity', () => {
    const back = policyFromForm(formFromPolicy(twoStage as never));
    expect(back.errors.size).toBe(0);
    expect(back.value).toEqual(twoStage);
  });

  it('form → document → form is the identity', () => {
    const form = formFromPolicy(twoStage as never);
    expect(formFromPolicy(policyFromForm(form).value as never)).toEqual(form);
  });

  it('strips the read-only fields of a PolicyOut', () => {
    const out = { ...twoStage, id: 'p', version: 3, status: 'active', stages: twoStage.stages!.map((s) => ({ ...s, id: 's', rules: s.rules!.map((r) => ({ ...r, id: 'r' })) })) };
    expect(policyInFromOut(out as never)).toEqual(twoStage);
  });
});

describe('policy form validation', () => {
  it('names broken JSONLogic with line and column at the server path', () => {
    const form = emptyPolicy();
    form.stages[0].skip_if = '{\n  "==": [1, 1]\n';
    form.stages[0].rules[0] = { ...form.stages[0].rules[0], rule_type: 'expression', logic: '{"var": }' };
    const { errors } = policyFromForm(form);
    expect(errors.get('stages[0].skip_if')?.[0]).toMatch(/^Line 3, column 1: Unexpected end of input/);
    expect(errors.get('stages[0].rules[0].rule_value.logic')?.[0]).toMatch(/^Line 1, column 9:/);
  });

  it('refuses non-integer orders and empty expressions', () => {
    const form = emptyPolicy();
    form.stages[0].stage_order = '1.5';
    form.stages[0].mode_value = 'x';
    form.stages[0].rules[0].rule_type = 'expression';
    const { errors } = policyFromForm(form);
    expect([...errors.keys()].sort()).toEqual(['stages[0].mode_value', 'stages[0].rules[0].rule_value.logic', 'stages[0].stage_order']);
  });

  it('drops required from observers and blank optional values', () => {
    const form = emptyPolicy();
    form.stages[0].rules[0] = { ...form.stages[0].rules[0], kind: 'observer', required: true, user_id: 'bob' };
    const { value } = policyFromForm(form);
    expect(value.stages![0].rules![0]).toEqual({ rule_type: 'user', rule_value: { user_id: 'bob' }, kind: 'observer', required: false });
    expect(value.stages![0].skip_if).toBeNull();
    expect(value.description).toBeNull();
  });
});
