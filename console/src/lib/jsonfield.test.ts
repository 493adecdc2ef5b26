import { describe, expect, it } from 'vitest';
import { checkJson, checkOptionalJson, describeJsonError, position } from './jsonfield';

describe('checkJson', () => {
  it('accepts valid JSON and returns the value', () => {
    expect(checkJson('{"a": [1, 2.5e3, true, null, "x\\n"]}')).toEqual({ ok: true, value: { a: [1, 2500, true, null, 'x\n'] } });
  });

  it('names line and column of a missing comma', () => {
    const r = checkJson('{\n  "a": 1\n  "b": 2\n}');
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.line).toBe(3);
      expect(r.column).toBe(3);
      expect(describeJsonError(r)).toMatch(/^Line 3, column 3: Unexpected "\\"", expected "," or "}"/);
    }
  });

  it('reports a trailing comma at the closing brace', () => {
    const r = checkJson('{"a": 1,}');
    expect(r).toMatchObject({ ok: false, line: 1, column: 9 });
  });

  it('reports unexpected end of input', () => {
    const r = checkJson('{"a": [1, 2');
    expect(r).toMatchObject({ ok: false, line: 1, column: 12 });
    if (!r.ok) expect(r.message).toMatch(/end of input/);
  });

  it('refuses single quotes, leading zeros and trailing garbage', () => {
    expect(checkJson("{'a': 1}").ok).toBe(false);
    expect(checkJson('[01]').ok).toBe(false);
    expect(checkJson('{} x')).toMatchObject({ ok: false, column: 4 });
  });

  it('treats blank optional fields as null and can demand an object', () => {
    expect(checkOptionalJson('  ')).toEqual({ ok: true, value: null });
    expect(checkOptionalJson('[1]', true).ok).toBe(false);
    expect(checkOptionalJson('{"==": [1, 1]}', true)).toEqual({ ok: true, value: { '==': [1, 1] } });
  });

  it('computes positions across lines', () => {
    expect(position('ab\ncd', 4)).toEqual({ line: 2, column: 2 });
  });
});
