import type { Change } from '../lib/diff';
import { summarize } from '../lib/diff';
import { Empty } from './ui';

function show(v: unknown): string {
  return v === undefined ? '' : JSON.stringify(v, null, 2);
}

/** A structural diff: one row per added, removed or changed path. */
export function DiffView({ changes, beforeLabel = 'Before', afterLabel = 'After' }: { changes: readonly Change[]; beforeLabel?: string; afterLabel?: string }) {
  if (changes.length === 0) return <Empty>No differences.</Empty>;
  const s = summarize(changes);
  return (
    <>
      <p aria-live="polite">
        {s.changed} changed, {s.added} added, {s.removed} removed
      </p>
      <table className="diff">
        <caption className="sr-only">Differences by path</caption>
        <thead>
          <tr>
            <th scope="col">Path</th>
            <th scope="col">Change</th>
            <th scope="col">{beforeLabel}</th>
            <th scope="col">{afterLabel}</th>
          </tr>
        </thead>
        <tbody>
          {changes.map((c) => (
            <tr key={`${c.kind}-${c.path}`} className={`diff-${c.kind}`}>
              <th scope="row">
                <code>{c.path || '(whole value)'}</code>
              </th>
              <td>
                <span className={`badge diff-badge-${c.kind}`}>{c.kind}</span>
              </td>
              <td>{c.kind !== 'added' && <pre className="del">{show(c.before)}</pre>}</td>
              <td>{c.kind !== 'removed' && <pre className="ins">{show(c.after)}</pre>}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
