import { Link } from 'react-router';
import type { DeliveryOut } from '../api/types';
import { Time } from '../components/Time';
import { Badge } from '../components/ui';
import { RetryButton } from './deliveryActions';

export function DeliveryTable({ rows, admin, showRequest = true }: { rows: readonly DeliveryOut[]; admin: boolean; showRequest?: boolean }) {
  return (
    <table>
      <caption className="sr-only">Webhook deliveries</caption>
      <thead>
        <tr>
          <th scope="col">Delivery</th>
          <th scope="col">Event</th>
          {showRequest && <th scope="col">Request</th>}
          <th scope="col">Status</th>
          <th scope="col">Attempts</th>
          <th scope="col">Last result</th>
          <th scope="col">Next attempt</th>
          <th scope="col">Created</th>
          {admin && <th scope="col">Actions</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((d) => (
          <tr key={d.id}>
            <td>
              <Link to={`/deliveries/${d.id}`} aria-label={`Delivery ${d.id}`}>
                <code>{d.id.slice(0, 8)}</code>
              </Link>
            </td>
            <td>
              {d.event_type} <span className="muted">#{d.seq}</span>
              {!d.signed && <span className="badge tone-warn">unsigned</span>}
            </td>
            {showRequest && (
              <td>
                <Link to={`/requests/${d.request_id}`}>
                  <code>{d.request_id.slice(0, 8)}</code>
                </Link>
              </td>
            )}
            <td>
              <Badge value={d.status} />
            </td>
            <td>{d.attempt}</td>
            <td className="wrap">
              {d.last_status_code ?? ''} {d.last_error ?? (d.last_status_code ? '' : <span className="muted">—</span>)}
            </td>
            <td>
              <Time value={d.status === 'pending' ? d.next_attempt_at : null} />
            </td>
            <td>
              <Time value={d.created_at} />
            </td>
            {admin && (
              <td>
                <RetryButton delivery={d} />
              </td>
            )}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
