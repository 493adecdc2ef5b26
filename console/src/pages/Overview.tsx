import { useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';
import { api, call } from '../api/client';
import type { Overview as OverviewData } from '../api/types';
import { Time, useTimeMode } from '../components/Time';
import { Empty, ErrorBanner, Loading, Section } from '../components/ui';
import { formatTime } from '../lib/time';

const RANGES = ['24h', '7d', '30d'] as const;
type Range = (typeof RANGES)[number];

export default function Overview() {
  const [params, setParams] = useSearchParams();
  const range: Range = (RANGES as readonly string[]).includes(params.get('range') ?? '') ? (params.get('range') as Range) : '24h';
  const q = useQuery({
    queryKey: ['overview', range],
    queryFn: () => call(api.GET('/v1/awe/admin/overview', { params: { query: { range } } })),
    refetchInterval: 30_000,
  });
  const c = q.data?.counts;
  return (
    <>
      <h1>Overview</h1>
      <ErrorBanner error={q.error} title="Could not load the overview" />
      {q.isPending && <Loading />}
      {c && (
        <ul className="cards" aria-label="Counts">
          <CountCard to="/requests?status=in_review" label="Requests in review" n={c.requests_in_review} />
          <CountCard to="/requests?status=pending" label="Requests pending" n={c.requests_pending} />
          <CountCard to="#stalled" label="Stalled stages" n={c.stalled_stages} alert />
          <CountCard to="/tasks?overdue=true" label="Tasks overdue" n={c.tasks_overdue} alert />
          <CountCard to="/deliveries?status=pending" label="Deliveries failing" n={c.deliveries_failing} alert />
          <CountCard to="/deliveries?status=exhausted" label="Deliveries exhausted" n={c.deliveries_exhausted} alert />
        </ul>
      )}
      {q.data && (
        <>
          <Section title="Oldest open request">
            {q.data.oldest_open ? (
              <p>
                <Link to={`/requests/${q.data.oldest_open.id}`}>
                  {q.data.oldest_open.policy_key} · {q.data.oldest_open.artifact_type}/{q.data.oldest_open.artifact_id}
                </Link>{' '}
                created <Time value={q.data.oldest_open.created_at} />
              </p>
            ) : (
              <Empty>No open requests.</Empty>
            )}
          </Section>
          <section className="card" id="stalled" aria-labelledby="stalled-h" tabIndex={-1}>
            <h2 id="stalled-h">Stalled stages</h2>
            {!q.data.stalled_exact && <p className="muted">Only the most recent open requests were examined: there may be more.</p>}
            {q.data.stalled.length === 0 ? (
              <Empty>No stage is stalled.</Empty>
            ) : (
              <table>
                <caption className="sr-only">Stages that cannot complete without someone acting</caption>
                <thead>
                  <tr>
                    <th scope="col">Request</th>
                    <th scope="col">Policy</th>
                    <th scope="col">Artifact</th>
                    <th scope="col">Stage</th>
                    <th scope="col">Reason</th>
                  </tr>
                </thead>
                <tbody>
                  {q.data.stalled.map((s) => (
                    <tr key={`${s.request_id}-${s.stage_order}`}>
                      <td>
                        <Link to={`/requests/${s.request_id}`}>{s.request_id.slice(0, 8)}</Link>
                      </td>
                      <td>{s.policy_key}</td>
                      <td>{s.artifact_id}</td>
                      <td>
                        {s.stage_order}. {s.stage_name}
                      </td>
                      <td>{s.reason}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </>
      )}
      <Section
        title="Activity"
        actions={
          <div role="group" aria-label="Range" className="segmented">
            {RANGES.map((r) => (
              <button key={r} type="button" aria-pressed={r === range} onClick={() => setParams({ range: r })}>
                {r}
              </button>
            ))}
          </div>
        }
      >
        {q.data ? <Chart series={q.data.series} /> : null}
      </Section>
    </>
  );
}

function CountCard({ to, label, n, alert }: { to: string; label: string; n: number; alert?: boolean }) {
  const body = (
    <>
      <span className="count">{n}</span>
      <span>{label}</span>
    </>
  );
  return (
    <li className={`count-card${alert && n > 0 ? ' alert' : ''}`}>
      {to.startsWith('#') ? (
        <a href={to} aria-label={`${label}: ${n}`}>
          {body}
        </a>
      ) : (
        <Link to={to} aria-label={`${label}: ${n}`}>
          {body}
        </Link>
      )}
    </li>
  );
}

/** Created / finished bars per bucket, breaches as a line of dots; plain SVG. */
function Chart({ series }: { series: OverviewData['series'] }) {
  const { mode } = useTimeMode();
  const pts = series.points;
  if (pts.length === 0) return <Empty>No activity in this range.</Empty>;
  const max = Math.max(1, ...pts.map((p) => Math.max(p.created, p.finished, p.breaches)));
  const W = 720;
  const H = 200;
  const pad = 28;
  const slot = (W - pad * 2) / pts.length;
  const bar = Math.max(1, slot / 2 - 1);
  const y = (v: number) => H - pad - (v / max) * (H - pad * 2);
  const totals = pts.reduce((a, p) => ({ created: a.created + p.created, finished: a.finished + p.finished, breaches: a.breaches + p.breaches }), { created: 0, finished: 0, breaches: 0 });
  const label = (at: string) => (series.bucket === 'hour' ? formatTime(at, mode).slice(11, 16) : formatTime(at, mode).slice(5, 10));
  const every = Math.ceil(pts.length / 8);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`Per ${series.bucket}: ${totals.created} created, ${totals.finished} finished, ${totals.breaches} SLA breaches`}>
        <line x1={pad} x2={W - pad} y1={H - pad} y2={H - pad} className="axis" />
        <text x={4} y={pad} className="tick">
          {max}
        </text>
        {pts.map((p, i) => {
          const x = pad + i * slot;
          return (
            <g key={p.at}>
              <title>{`${formatTime(p.at, mode)}: ${p.created} created, ${p.finished} finished, ${p.breaches} breaches`}</title>
              <rect x={x} y={y(p.created)} width={bar} height={H - pad - y(p.created)} className="bar-created" />
              <rect x={x + bar + 1} y={y(p.finished)} width={bar} height={H - pad - y(p.finished)} className="bar-finished" />
              {p.breaches > 0 && <circle cx={x + bar} cy={y(p.breaches)} r={3} className="dot-breach" />}
              {i % every === 0 && (
                <text x={x} y={H - 8} className="tick">
                  {label(p.at)}
                </text>
              )}
            </g>
          );
        })}
      </svg>
      <figcaption className="legend">
        <span className="key key-created" /> Created ({totals.created}) <span className="key key-finished" /> Finished ({totals.finished}) <span className="key key-breach" /> SLA breaches ({totals.breaches}) · per {series.bucket}
      </figcaption>
    </figure>
  );
}
