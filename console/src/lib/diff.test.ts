import { describe, expect, it } from 'vitest';
import { diff, summarize, withoutKeys } from './diff';

describe('diff', () => {
  it('is empty for equal values', () => {
    expect(diff({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
  });

  it('finds added, removed and changed paths', () => {
    const before = { name: 'A', stages: [{ mode: 'all', rules: [{ v: 1 }] }], gone: true };
    const after = { name: 'B', stages: [{ mode: 'any-n', rules: [{ v: 1 }, { v: 2 }] }], added: null };
    expect(diff(before, after)).toEqual([
      { kind: 'changed', path: 'name', before: 'A', after: 'B' },
      { kind: 'changed', path: 'stages[0].mode', before: 'all', after: 'any-n' },
      { kind: 'added', path: 'stages[0].rules[1]', after: { v: 2 } },
      { kind: 'removed', path: 'gone', before: true },
      { kind: 'added', path: 'added', after: null },
    ]);
  });

  it('treats a type change as a change of the whole value', () => {
    expect(diff({ x: { a: 1 } }, { x: [1] })).toEqual([{ kind: 'changed', path: 'x', before: { a: 1 }, after: [1] }]);
    expect(diff(null, { a: 1 })).toEqual([{ kind: 'changed', path: '', before: null, after: { a: 1 } }]);
  });

  it('quotes keys that are not identifiers', () => {
    expect(diff({ '==': 1 }, { '==': 2 })[0].path).toBe('["=="]');
  });

  it('counts and can ignore volatile keys', () => {
    const a = { id: '1', v: 1, s: [{ id: 'x', n: 1 }] };
    const b = { id: '2', v: 2, s: [{ id: 'y', n: 1 }] };
    expect(summarize(diff(a, b))).toEqual({ added: 0, removed: 0, changed: 3 });
    expect(diff(withoutKeys(a, ['id']), withoutKeys(b, ['id']))).toEqual([{ kind: 'changed', path: 'v', before: 1, after: 2 }]);
  });
});
