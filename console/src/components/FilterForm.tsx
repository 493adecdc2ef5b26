import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { isoToLocalInput, localInputToIso } from '../lib/time';

export interface FilterDef<K extends string> {
  key: K;
  label: string;
  type?: 'text' | 'datetime' | 'select' | 'checkbox';
  options?: readonly { value: string; label: string }[];
  placeholder?: string;
}

/**
 * A filter bar whose values live in the URL: edited locally, applied on
 * submit (selects and checkboxes apply at once). Datetimes are entered in
 * local time and kept as ISO UTC.
 */
export function FilterForm<K extends string>({ defs, values, onApply, children }: { defs: readonly FilterDef<K>[]; values: Record<K, string>; onApply(v: Partial<Record<K, string>>): void; children?: ReactNode }) {
  const [draft, setDraft] = useState(values);
  useEffect(() => setDraft(values), [values]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(draft);
  };
  const clear = () => {
    const empty = {} as Record<K, string>;
    for (const d of defs) empty[d.key] = '';
    onApply(empty);
  };
  return (
    <form className="filters" role="search" aria-label="Filters" onSubmit={submit}>
      {defs.map((d) => {
        const id = `f-${d.key}`;
        const v = draft[d.key] ?? '';
        if (d.type === 'select') {
          return (
            <div className="field" key={d.key}>
              <label htmlFor={id}>{d.label}</label>
              <select id={id} value={v} onChange={(e) => onApply({ ...draft, [d.key]: e.target.value })}>
                <option value="">Any</option>
                {d.options?.map((o) => (
                  <option key={o.value} value={o.value}>
                    {o.label}
                  </option>
                ))}
              </select>
            </div>
          );
        }
        if (d.type === 'checkbox') {
          return (
            <label className="check" key={d.key}>
              <input type="checkbox" checked={v === 'true'} onChange={(e) => onApply({ ...draft, [d.key]: e.target.checked ? 'true' : '' })} /> {d.label}
            </label>
          );
        }
        if (d.type === 'datetime') {
          return (
            <div className="field" key={d.key}>
              <label htmlFor={id}>{d.label}</label>
              <input id={id} type="datetime-local" value={isoToLocalInput(v)} onChange={(e) => setDraft({ ...draft, [d.key]: localInputToIso(e.target.value) })} />
            </div>
          );
        }
        return (
          <div className="field" key={d.key}>
            <label htmlFor={id}>{d.label}</label>
            <input id={id} value={v} placeholder={d.placeholder} onChange={(e) => setDraft({ ...draft, [d.key]: e.target.value })} />
          </div>
        );
      })}
      <div className="filter-actions">
        <button type="submit" className="primary">
          Apply filters
        </button>
        <button type="button" onClick={clear}>
          Clear filters
        </button>
        {children}
      </div>
    </form>
  );
}
