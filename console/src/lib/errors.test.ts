import { describe, expect, it } from 'vitest';
import { fieldMap, issuesAt, locToPath, toApiError } from './errors';

describe('toApiError', () => {
  it('reads the AWE envelope', () => {
    const e = toApiError(409, { id: 'openg2p.awe', version: '1.0', responsetime: 'x', response: null, errors: [{ errorCode: 'AWE-007', message: 'Request is approved' }] });
    expect(e.code).toBe('AWE-007');
    expect(e.message).toBe('Request is approved');
    expect(e.display).toBe('AWE-007: Request is approved');
  });

  it('reads {"detail": text}', () => {
    const e = toApiError(403, { detail: 'Role `AWE_ADMIN` required' });
    expect(e.code).toBeNull();
    expect(e.display).toBe('Role `AWE_ADMIN` required');
  });

  it('maps 422 loc to field paths', () => {
    const e = toApiError(422, {
      detail: [
        { type: 'value_error', loc: ['body', 'stages', 0, 'rules', 1, 'rule_value'], msg: 'must be an object', input: 3 },
        { type: 'missing', loc: ['body', 'name'], msg: 'Field required', input: null },
      ],
    });
    expect(e.fields.map((f) => f.path)).toEqual(['stages[0].rules[1].rule_value', 'name']);
    const map = fieldMap(e.fields);
    expect(issuesAt(map, 'name')).toEqual(['Field required']);
    expect(issuesAt(map, 'stages[0].rules[1].rule_value')).toEqual(['must be an object']);
    expect(issuesAt(map, 'stages[0].rules[1]', true)).toEqual(['rule_value: must be an object']);
  });

  it('maps AWE-010 messages that start with a path to that field', () => {
    const e = toApiError(400, { errors: [{ errorCode: 'AWE-010', message: 'stages[1].stage_order: 1 is already used by stages[0]; stage_order must be unique' }] });
    expect(e.fields).toEqual([{ path: 'stages[1].stage_order', message: '1 is already used by stages[0]; stage_order must be unique' }]);
  });

  it('falls back to the status for bodies it does not know', () => {
    expect(toApiError(500, null, 'Internal Server Error').display).toBe('HTTP 500 Internal Server Error');
    expect(toApiError(502, 'Bad gateway').display).toBe('Bad gateway');
  });
});

describe('locToPath', () => {
  it('drops the location kind', () => {
    expect(locToPath(['body', 'stages', 2, 'escalation_rules', 0, 'rule_value', 'logic'])).toBe('stages[2].escalation_rules[0].rule_value.logic');
    expect(locToPath(['query', 'page_size'])).toBe('page_size');
  });
});
