// Directory pickers: an input with suggestions from the Keycloak endpoints.
// Free text is always allowed; when the directory is down (503 AWE-011) or
// not configured, the input simply has no suggestions and says so.
import { useId } from 'react';
import { useQuery } from '@tanstack/react-query';
import { api, call } from '../api/client';
import { ApiError } from '../lib/errors';
import { useDebounced } from '../lib/useDebounced';
import { FieldErrors } from './ui';

export type PickerKind = 'user' | 'role' | 'group' | 'client';

interface Suggestion {
  value: string;
  label: string;
}

/** Kinds whose directory said it is unavailable, and until when to believe it. */
const down = new Map<PickerKind, { until: number; error: ApiError }>();

async function suggest(kind: PickerKind, q: string, client: string): Promise<Suggestion[]> {
  const known = down.get(kind);
  if (known && known.until > Date.now()) throw known.error;
  try {
    return await ask(kind, q, client);
  } catch (e) {
    if (e instanceof ApiError && (e.status === 503 || e.status === 404)) down.set(kind, { until: Date.now() + 60_000, error: e });
    throw e;
  }
}

async function ask(kind: PickerKind, q: string, client: string): Promise<Suggestion[]> {
  switch (kind) {
    case 'user':
      return (await call(api.GET('/v1/awe/admin/keycloak/users', { params: { query: { q, limit: 20 } } }))).map((u) => ({ value: u.user_id, label: [u.name, u.email].filter(Boolean).join(' · ') || u.username }));
    case 'role':
      return (await call(api.GET('/v1/awe/admin/keycloak/roles', { params: { query: { q, ...(client ? { client } : {}) } } }))).map((r) => ({ value: r.name, label: r.description || (r.client ? `client ${r.client}` : 'realm role') }));
    case 'group':
      return (await call(api.GET('/v1/awe/admin/keycloak/groups', { params: { query: { q, limit: 20 } } }))).map((g) => ({ value: g.path, label: g.name }));
    case 'client':
      return (await call(api.GET('/v1/awe/admin/keycloak/clients', { params: { query: { limit: 200 } } }))).map((c) => ({ value: c.client_id, label: c.name || c.client_id }));
  }
}

export function Picker(props: { kind: PickerKind; label: string; value: string; onChange(v: string): void; errors?: readonly string[]; client?: string; placeholder?: string; required?: boolean }) {
  const id = useId();
  const q = useDebounced(props.value.trim());
  // One shared probe per kind: when the directory is down, every picker of
  // that kind knows it from a single request.
  const probe = useQuery({ queryKey: ['keycloak', props.kind, '', ''], queryFn: () => suggest(props.kind, '', ''), staleTime: 60_000, retry: false });
  const specific = props.kind !== 'client' && (q !== '' || Boolean(props.client));
  const search = useQuery({
    queryKey: ['keycloak', props.kind, props.kind === 'client' ? '' : q, props.client ?? ''],
    queryFn: () => suggest(props.kind, q, props.client ?? ''),
    staleTime: 60_000,
    retry: false,
    enabled: probe.isSuccess && specific,
  });
  const query = specific && probe.isSuccess ? search : probe;
  const unavailable = query.error instanceof ApiError ? query.error : query.error ? new ApiError(0, null, String(query.error)) : null;
  const errors = props.errors ?? [];
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      <input
        id={id}
        list={`${id}-list`}
        value={props.value}
        placeholder={props.placeholder}
        required={props.required}
        autoComplete="off"
        aria-invalid={errors.length > 0}
        aria-describedby={`${id}-hint${errors.length ? ` ${id}-err` : ''}`}
        onChange={(e) => props.onChange(e.target.value)}
      />
      <datalist id={`${id}-list`}>
        {(query.data ?? []).map((s) => (
          <option key={s.value} value={s.value}>
            {s.label}
          </option>
        ))}
      </datalist>
      <p className="hint" id={`${id}-hint`}>
        {unavailable
          ? `Directory unavailable${unavailable.code ? ` (${unavailable.code})` : ''}: type the value.`
          : query.data && query.data.length > 0
            ? `${query.data.length} suggestion${query.data.length === 1 ? '' : 's'} from the directory; any value is accepted.`
            : 'Any value is accepted.'}
      </p>
      <FieldErrors id={`${id}-err`} messages={errors} />
    </div>
  );
}
