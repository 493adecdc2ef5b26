// JSON syntax checking with the position of the first error, independent of
// the JS engine's error message format.

export type JsonCheck =
  | { ok: true; value: unknown }
  | { ok: false; message: string; offset: number; line: number; column: number };

/** Line and column (both from 1) of a character offset in `text`. */
export function position(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let column = 1;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text[i] === '\n') {
      line++;
      column = 1;
    } else {
      column++;
    }
  }
  return { line, column };
}

class JsonSyntaxError extends Error {
  constructor(message: string, readonly offset: number) {
    super(message);
  }
}

/** A strict RFC 8259 scanner: throws at the first offending character. */
function scan(text: string): void {
  let i = 0;
  const fail = (what: string): never => {
    throw new JsonSyntaxError(i >= text.length ? `Unexpected end of input, expected ${what}` : `Unexpected ${JSON.stringify(text[i])}, expected ${what}`, i);
  };
  const ws = () => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const literal = (word: string) => {
    for (const ch of word) {
      if (text[i] !== ch) fail(`"${word}"`);
      i++;
    }
  };
  const string = () => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) fail('closing "');
      const c = text[i];
      if (c === '"') {
        i++;
        return;
      }
      if (c === '\\') {
        i++;
        const e = text[i];
        if (e === 'u') {
          i++;
          for (let k = 0; k < 4; k++) {
            if (!/[0-9a-fA-F]/.test(text[i] ?? '')) fail('a hex digit');
            i++;
          }
          continue;
        }
        if (!'"\\/bfnrt'.includes(e ?? 'x') || e === undefined) fail('an escape character');
        i++;
        continue;
      }
      if (c < ' ') fail('no control character in a string');
      i++;
    }
  };
  const number = () => {
    if (text[i] === '-') i++;
    if (text[i] === '0') i++;
    else if (/[1-9]/.test(text[i] ?? '')) while (/[0-9]/.test(text[i] ?? '')) i++;
    else fail('a digit');
    if (text[i] === '.') {
      i++;
      if (!/[0-9]/.test(text[i] ?? '')) fail('a digit');
      while (/[0-9]/.test(text[i] ?? '')) i++;
    }
    if (text[i] === 'e' || text[i] === 'E') {
      i++;
      if (text[i] === '+' || text[i] === '-') i++;
      if (!/[0-9]/.test(text[i] ?? '')) fail('a digit');
      while (/[0-9]/.test(text[i] ?? '')) i++;
    }
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail('a property name in double quotes');
        string();
        ws();
        if (text[i] !== ':') fail('":"');
        i++;
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === '}') {
          i++;
          return;
        }
        fail('"," or "}"');
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return;
      }
      for (;;) {
        value();
        ws();
        if (text[i] === ',') {
          i++;
          continue;
        }
        if (text[i] === ']') {
          i++;
          return;
        }
        fail('"," or "]"');
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === '-' || /[0-9]/.test(c ?? '')) return number();
    fail('a value');
  };
  value();
  ws();
  if (i < text.length) fail('end of input');
}

/** Checks `text` as JSON; on failure says where (line and column from 1). */
export function checkJson(text: string): JsonCheck {
  try {
    scan(text);
  } catch (e) {
    if (e instanceof JsonSyntaxError) {
      const { line, column } = position(text, e.offset);
      return { ok: false, message: e.message, offset: e.offset, line, column };
    }
    throw e;
  }
  return { ok: true, value: JSON.parse(text) };
}

/** A human sentence for a failed check: "Line 2, column 5: Unexpected …". */
export function describeJsonError(check: Extract<JsonCheck, { ok: false }>): string {
  return `Line ${check.line}, column ${check.column}: ${check.message}`;
}

/**
 * An optional JSON field (e.g. `skip_if`): blank means null; otherwise the
 * text must be JSON and, when `objectOnly`, an object.
 */
export function checkOptionalJson(text: string, objectOnly = false): JsonCheck {
  if (text.trim() === '') return { ok: true, value: null };
  const check = checkJson(text);
  if (check.ok && objectOnly && (typeof check.value !== 'object' || check.value === null || Array.isArray(check.value))) {
    return { ok: false, message: 'Expected a JSON object', offset: 0, line: 1, column: 1 };
  }
  return check;
}

export function pretty(value: unknown): string {
  return JSON.stringify(value, null, 2);
}
