import { useId, type InputHTMLAttributes, type ReactNode } from 'react';
import { FieldErrors } from './ui';

type InputProps = Omit<InputHTMLAttributes<HTMLInputElement>, 'onChange' | 'value' | 'id'>;

/** A labelled text input with its errors announced through aria-describedby. */
export function TextField({ label, value, onChange, errors = [], hint, ...rest }: InputProps & { label: string; value: string; onChange(v: string): void; errors?: readonly string[]; hint?: ReactNode }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        aria-invalid={errors.length > 0}
        aria-describedby={[errors.length ? `${id}-err` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined}
        onChange={(e) => onChange(e.target.value)}
        {...rest}
      />
      {hint && <p className="hint" id={`${id}-hint`}>{hint}</p>}
      <FieldErrors id={`${id}-err`} messages={errors} />
    </div>
  );
}

export function SelectField<T extends string>({ label, value, options, onChange, errors = [] }: { label: string; value: T; options: readonly { value: T; label: string }[]; onChange(v: T): void; errors?: readonly string[] }) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} aria-invalid={errors.length > 0} aria-describedby={errors.length ? `${id}-err` : undefined} onChange={(e) => onChange(e.target.value as T)}>
        {options.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <FieldErrors id={`${id}-err`} messages={errors} />
    </div>
  );
}

export function CheckField({ label, checked, onChange, disabled }: { label: string; checked: boolean; onChange(v: boolean): void; disabled?: boolean }) {
  return (
    <label className="check">
      <input type="checkbox" checked={checked} disabled={disabled} onChange={(e) => onChange(e.target.checked)} /> {label}
    </label>
  );
}
