// Small shared building blocks: states, badges, errors, copy, JSON, paging.
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import { ApiError, errorText } from '../lib/errors';
import { pretty } from '../lib/jsonfield';

export function Loading({ what = 'Loading' }: { what?: string }) {
  return (
    <p className="muted" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/** An error as the API gave it: the AWE code and message verbatim. */
export function ErrorBanner({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  return (
    <div className="error-banner" role="alert">
      {title && <strong>{title}: </strong>}
      {e?.code && <code className="code">{e.code}</code>} <span>{e ? e.message : errorText(error)}</span>
      {e && !e.code && e.status > 0 && <span className="muted"> (HTTP {e.status})</span>}
    </div>
  );
}

const TONES: Record<string, string> = {
  active: 'ok', approved: 'ok', delivered: 'ok', completed: 'ok',
  draft: 'info', pending: 'info', in_review: 'info', open: 'info', claimed: 'info',
  archived: 'muted', inactive: 'muted', cancelled: 'muted', skipped: 'muted', reassigned: 'muted', rotated: 'warn',
  rejected: 'bad', exhausted: 'bad', expired: 'warn', revoked: 'bad', failed: 'bad', stalled: 'bad', escalated: 'warn',
};

export function Badge({ value, label }: { value: string; label?: string }) {
  return <span className={`badge tone-${TONES[value] ?? 'muted'}`}>{label ?? value.replace(/_/g, ' ')}</span>;
}

export function CopyButton({ value, label }: { value: string; label?: string }) {
  const [done, setDone] = useState<'copied' | 'failed' | null>(null);
  useEffect(() => {
    if (!done) return;
    const t = window.setTimeout(() => setDone(null), 1500);
    return () => window.clearTimeout(t);
  }, [done]);
  return (
    <>
      <button
        type="button"
        className="small ghost"
        aria-label={label ?? `Copy ${value}`}
        onClick={() => navigator.clipboard.writeText(value).then(() => setDone('copied'), () => setDone('failed'))}
      >
        {done === 'copied' ? 'Copied' : done === 'failed' ? 'Copy failed' : 'Copy'}
      </button>
      <span role="status" className="sr-only">
        {done === 'copied' ? 'Copied to the clipboard' : done === 'failed' ? 'Could not copy' : ''}
      </span>
    </>
  );
}

/** An id in monospace with a copy button. */
export function Id({ value, short = false }: { value: string; short?: boolean }) {
  return (
    <span className="id">
      <code title={value}>{short ? value.slice(0, 8) : value}</code> <CopyButton value={value} label={`Copy id ${value}`} />
    </span>
  );
}

export function JsonView({ value, label }: { value: unknown; label?: string }) {
  return (
    <pre className="json" role={label ? 'region' : undefined} aria-label={label} tabIndex={0}>
      {pretty(value)}
    </pre>
  );
}

/** Limit/offset paging: "next" is enabled when a full page came back. */
export function OffsetPager({ offset, limit, count, onChange }: { offset: number; limit: number; count: number; onChange(offset: number): void }) {
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={offset <= 0} onClick={() => onChange(Math.max(0, offset - limit))}>
        Previous page
      </button>
      <span>
        {count === 0 ? 'No rows' : `Rows ${offset + 1}–${offset + count}`}
      </span>
      <button type="button" disabled={count < limit} onClick={() => onChange(offset + limit)}>
        Next page
      </button>
    </nav>
  );
}

export function PagePager({
  page,
  pages,
  total,
  capped = false,
  onChange,
}: {
  page: number;
  pages: number;
  total: number;
  /** The server counted only up to `total`: at least that many match. */
  capped?: boolean;
  onChange(page: number): void;
}) {
  const more = capped ? '+' : '';
  return (
    <nav className="pager" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onChange(page - 1)}>
        Previous page
      </button>
      <span>
        Page {page} of {Math.max(pages, 1).toLocaleString('en')}
        {more} · {total.toLocaleString('en')}
        {more} in all
      </span>
      <button type="button" disabled={page >= pages && !capped} onClick={() => onChange(page + 1)}>
        Next page
      </button>
    </nav>
  );
}

/** A confirmation on a native modal <dialog>: focus is trapped and Escape cancels. */
export function ConfirmDialog(props: {
  open: boolean;
  title: string;
  children?: ReactNode;
  confirmLabel: string;
  busy?: boolean;
  error?: unknown;
  danger?: boolean;
  /** Confirm stays disabled, e.g. until a required input is filled. */
  disabled?: boolean;
  onConfirm(): void;
  onCancel(): void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (props.open && !d.open) d.showModal();
    if (!props.open && d.open) d.close();
  }, [props.open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <form
        method="dialog"
        onSubmit={(e) => {
          e.preventDefault();
          if (!props.busy && !props.disabled) props.onConfirm();
        }}
      >
        <h2 id={titleId}>{props.title}</h2>
        <div className="dialog-body">{props.children}</div>
        <ErrorBanner error={props.error} />
        <div className="actions">
          <button type="button" onClick={props.onCancel}>
            Cancel
          </button>
          <button type="submit" className={props.danger ? 'danger' : 'primary'} disabled={props.busy || props.disabled}>
            {props.busy ? 'Working…' : props.confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

/** Messages for one field, tied to it with aria-describedby by the caller. */
export function FieldErrors({ id, messages }: { id: string; messages: readonly string[] }) {
  if (messages.length === 0) return null;
  return (
    <ul className="field-errors" id={id}>
      {messages.map((m, i) => (
        <li key={i}>{m}</li>
      ))}
    </ul>
  );
}

export function Section({ title, children, actions }: { title: string; children: ReactNode; actions?: ReactNode }) {
  const id = useId();
  return (
    <section aria-labelledby={id} className="card">
      <div className="section-head">
        <h2 id={id}>{title}</h2>
        {actions}
      </div>
      {children}
    </section>
  );
}
