import { useQuery } from '@tanstack/react-query';
import { Link, useParams } from 'react-router';
import { api, call } from '../api/client';
import { useIsAdmin } from '../auth/AuthProvider';
import { Time } from '../components/Time';
import { Badge, Empty, ErrorBanner, Id, JsonView, Loading, Section } from '../components/ui';
import { RetryButton } from './deliveryActions';

export default function DeliveryDetail() {
  const id = useParams().id!;
  const admin = useIsAdmin();
  const q = useQuery({ queryKey: ['delivery', id], queryFn: () => call(api.GET('/v1/awe/admin/deliveries/{delivery_id}', { params: { path: { delivery_id: id } } })) });
  const d = q.data?.delivery;
  return (
    <>
      <p className="crumbs">
        <Link to="/deliveries">Deliveries</Link> /
      </p>
      <ErrorBanner error={q.error} />
      {q.isPending && <Loading />}
      {d && q.data && (
        <>
          <div className="page-head">
            <h1>
              Delivery <code>{d.id.slice(0, 8)}</code> <Badge value={d.status} />
            </h1>
            {admin && <RetryButton delivery={d} />}
          </div>
          <Section title="Delivery">
            <dl className="facts">
              <dt>Id</dt>
              <dd>
                <Id value={d.id} />
              </dd>
              <dt>Event</dt>
              <dd>
                {d.event_type} (#{d.seq} of the request's timeline) <Id value={d.event_id} short />
              </dd>
              <dt>Request</dt>
              <dd>
                <Link to={`/requests/${d.request_id}`}>{d.request_id}</Link>
              </dd>
              <dt>URL</dt>
              <dd className="wrap">{d.url}</dd>
              <dt>Signed</dt>
              <dd>{d.signed ? 'yes (X-Approval-Signature)' : 'no: the request has no callback secret'}</dd>
              <dt>Attempts</dt>
              <dd>{d.attempt}</dd>
              <dt>Next attempt</dt>
              <dd>
                <Time value={d.status === 'pending' ? d.next_attempt_at : null} />
              </dd>
              <dt>Last error</dt>
              <dd>{d.last_error ?? <span className="muted">none</span>}</dd>
            </dl>
          </Section>
          <Section title="Attempts">
            {q.data.attempts.length === 0 ? (
              <Empty>Not attempted yet.</Empty>
            ) : (
              <table>
                <caption className="sr-only">Every attempt, first first</caption>
                <thead>
                  <tr>
                    <th scope="col">Attempt</th>
                    <th scope="col">Started</th>
                    <th scope="col">Duration</th>
                    <th scope="col">Status code</th>
                    <th scope="col">Error</th>
                    <th scope="col">Signed</th>
                  </tr>
                </thead>
                <tbody>
                  {q.data.attempts.map((a) => (
                    <tr key={a.attempt + a.started_at}>
                      <td>{a.attempt}</td>
                      <td>
                        <Time value={a.started_at} />
                      </td>
                      <td>{a.duration_ms != null ? `${a.duration_ms} ms` : '—'}</td>
                      <td>{a.status_code ?? <span className="muted">none</span>}</td>
                      <td className="wrap">{a.error ?? ''}</td>
                      <td>{a.signed ? 'yes' : 'no'}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </Section>
          <Section title="Body sent">
            <JsonView value={q.data.body} label="Webhook body" />
            <details>
              <summary>Exact bytes signed and sent</summary>
              <pre className="json wrap" role="region" aria-label="Webhook body bytes" tabIndex={0}>
                {q.data.body_raw}
              </pre>
            </details>
          </Section>
        </>
      )}
    </>
  );
}
