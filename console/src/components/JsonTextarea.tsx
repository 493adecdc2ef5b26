import { useId, useMemo } from 'react';
import { checkOptionalJson, describeJsonError } from '../lib/jsonfield';
import { FieldErrors } from './ui';

/**
 * A JSON (or JSONLogic) editor: a textarea with live syntax checking that
 * names the line and column of the first error. Blank is allowed unless
 * `required`.
 */
export function JsonTextarea(props: {
  label: string;
  value: string;
  onChange(text: string): void;
  /** Server or form messages for this field. */
  errors?: readonly string[];
  rows?: number;
  required?: boolean;
  objectOnly?: boolean;
  hint?: string;
  readOnly?: boolean;
}) {
  const id = useId();
  const check = useMemo(() => checkOptionalJson(props.value, props.objectOnly), [props.value, props.objectOnly]);
  const syntax = !check.ok ? describeJsonError(check) : props.required && props.value.trim() === '' ? 'Required' : null;
  const messages = [...(syntax ? [syntax] : []), ...(props.errors ?? [])];
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.hint && <p className="hint" id={`${id}-hint`}>{props.hint}</p>}
      <textarea
        id={id}
        className="code-input"
        spellCheck={false}
        rows={Math.min(20, Math.max(props.rows ?? 4, props.value.split('\n').length))}
        value={props.value}
        readOnly={props.readOnly}
        aria-invalid={messages.length > 0}
        aria-describedby={[messages.length ? `${id}-err` : '', props.hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined}
        onChange={(e) => props.onChange(e.target.value)}
      />
      {check.ok && props.value.trim() !== '' && messages.length === 0 && <p className="ok-note">Valid JSON</p>}
      <FieldErrors id={`${id}-err`} messages={messages} />
    </div>
  );
}
