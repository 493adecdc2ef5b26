// One error type for every failed API call, whatever shape the body had
// (API.md §1.1): the AWE envelope, {"detail": "text"}, or a 422 list.

export interface FieldIssue {
  /** Document path in the server's notation: `stages[0].rules[1].rule_value`. */
  path: string;
  message: string;
  /** The raw `loc` as the API gave it, when there was one. */
  loc?: readonly unknown[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** `AWE-007` etc., when the body was an AWE envelope. */
    readonly code: string | null,
    message: string,
    readonly fields: readonly FieldIssue[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** "AWE-007: Request is already approved", or the detail text. */
  get display(): string {
    return this.code ? `${this.code}: ${this.message}` : this.message;
  }
}

/** `["body","stages",0,"rules",1,"rule_value"]` → `stages[0].rules[1].rule_value`. */
export function locToPath(loc: readonly unknown[]): string {
  const parts = loc[0] === 'body' || loc[0] === 'query' || loc[0] === 'path' ? loc.slice(1) : loc;
  let out = '';
  for (const p of parts) {
    if (typeof p === 'number') out += `[${p}]`;
    else out += out ? `.${String(p)}` : String(p);
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * AWE-010 messages name the field first ("stages[1].stage_order: 1 is already
 * used"), as the service's policy parser reports it.
 */
export function fieldFromMessage(message: string): FieldIssue | null {
  const m = /^((?:[A-Za-z_]\w*|\[\d+\])(?:\.[A-Za-z_]\w*|\[\d+\])*): (.+)$/s.exec(message);
  return m ? { path: m[1], message: m[2] } : null;
}

export function toApiError(status: number, body: unknown, statusText = ''): ApiError {
  if (isRecord(body)) {
    const errors = body.errors;
    if (Array.isArray(errors) && errors.length > 0 && isRecord(errors[0])) {
      const first = errors[0];
      const code = typeof first.errorCode === 'string' ? first.errorCode : null;
      const message = typeof first.message === 'string' ? first.message : 'Error';
      const fields: FieldIssue[] = [];
      for (const e of errors) {
        if (isRecord(e) && typeof e.message === 'string') {
          const f = e.errorCode === 'AWE-010' ? fieldFromMessage(e.message) : null;
          if (f) fields.push(f);
        }
      }
      return new ApiError(status, code, message, fields);
    }
    const detail = body.detail;
    if (typeof detail === 'string') return new ApiError(status, null, detail);
    if (Array.isArray(detail)) {
      const fields: FieldIssue[] = detail.filter(isRecord).map((d) => {
        const loc = Array.isArray(d.loc) ? d.loc : [];
        return { path: locToPath(loc), message: typeof d.msg === 'string' ? d.msg : 'Invalid value', loc };
      });
      const summary = fields.map((f) => (f.path ? `${f.path}: ${f.message}` : f.message)).join('; ');
      return new ApiError(status, null, summary || 'Invalid input', fields);
    }
  }
  if (typeof body === 'string' && body.trim()) return new ApiError(status, null, body.trim().slice(0, 500));
  return new ApiError(status, null, `HTTP ${status}${statusText ? ` ${statusText}` : ''}`);
}

/** Field issues keyed by path; several messages for one path are kept. */
export function fieldMap(issues: readonly FieldIssue[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const i of issues) map.set(i.path, [...(map.get(i.path) ?? []), i.message]);
  return map;
}

/**
 * Messages for a field: those at `path` exactly, and with `nested` those of
 * any path beneath it (`rule_value` also collects `rule_value.user_id`).
 */
export function issuesAt(map: ReadonlyMap<string, readonly string[]>, path: string, nested = false): string[] {
  const out: string[] = [...(map.get(path) ?? [])];
  if (nested) {
    for (const [p, msgs] of map) {
      if (p !== path && (p.startsWith(`${path}.`) || p.startsWith(`${path}[`))) out.push(...msgs.map((m) => `${p.slice(path.length + 1) || p}: ${m}`));
    }
  }
  return out;
}

export function errorText(e: unknown): string {
  if (e instanceof ApiError) return e.display;
  if (e instanceof Error) return e.message;
  return String(e);
}
