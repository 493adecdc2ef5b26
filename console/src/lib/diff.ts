// Structural diff of two JSON values: every added, removed or changed leaf
// path, in document order.

export type Change =
  | { kind: 'added'; path: string; after: unknown }
  | { kind: 'removed'; path: string; before: unknown }
  | { kind: 'changed'; path: string; before: unknown; after: unknown };

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `stages[0].rules[1].rule_value`; keys that are not identifiers are quoted. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === 'number') return `${base}[${key}]`;
  const safe = /^[A-Za-z_$][\w$-]*$/.test(key) ? key : JSON.stringify(key);
  if (!base) return safe.startsWith('"') ? `[${safe}]` : safe;
  return safe.startsWith('"') ? `${base}[${safe}]` : `${base}.${safe}`;
}

export function diff(before: unknown, after: unknown, path = ''): Change[] {
  if (Object.is(before, after)) return [];
  if (Array.isArray(before) && Array.isArray(after)) {
    const out: Change[] = [];
    const n = Math.max(before.length, after.length);
    for (let i = 0; i < n; i++) {
      const p = joinPath(path, i);
      if (i >= before.length) out.push({ kind: 'added', path: p, after: after[i] });
      else if (i >= after.length) out.push({ kind: 'removed', path: p, before: before[i] });
      else out.push(...diff(before[i], after[i], p));
    }
    return out;
  }
  if (isObject(before) && isObject(after)) {
    const out: Change[] = [];
    const keys = [...Object.keys(before), ...Object.keys(after).filter((k) => !(k in before))];
    for (const k of keys) {
      const p = joinPath(path, k);
      if (!(k in after)) out.push({ kind: 'removed', path: p, before: before[k] });
      else if (!(k in before)) out.push({ kind: 'added', path: p, after: after[k] });
      else out.push(...diff(before[k], after[k], p));
    }
    return out;
  }
  if (before === undefined) return [{ kind: 'added', path, after }];
  if (after === undefined) return [{ kind: 'removed', path, before }];
  return [{ kind: 'changed', path, before, after }];
}

/** Drops keys (at any depth) that differ between versions by nature: ids and timestamps. */
export function withoutKeys(value: unknown, keys: readonly string[]): unknown {
  if (Array.isArray(value)) return value.map((v) => withoutKeys(v, keys));
  if (isObject(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (!keys.includes(k)) out[k] = withoutKeys(v, keys);
    return out;
  }
  return value;
}

export const VOLATILE_POLICY_KEYS = ['id', 'created_at', 'updated_at', 'created_by', 'status', 'version'] as const;

export function summarize(changes: readonly Change[]): { added: number; removed: number; changed: number } {
  const s = { added: 0, removed: 0, changed: 0 };
  for (const c of changes) s[c.kind]++;
  return s;
}

export type { Json };
