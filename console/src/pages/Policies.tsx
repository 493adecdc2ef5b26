import { useQuery } from '@tanstack/react-query';
import { Link, useSearchParams } from 'react-router';
import { api, call } from '../api/client';
import { useIsAdmin } from '../auth/AuthProvider';
import { Time } from '../components/Time';
import { Badge, Empty, ErrorBanner, Loading } from '../components/ui';

export default function Policies() {
  const admin = useIsAdmin();
  const [params, setParams] = useSearchParams();
  const q = params.get('q') ?? '';
  const list = useQuery({ queryKey: ['policies'], queryFn: () => call(api.GET('/v1/awe/policies')) });
  const needle = q.trim().toLowerCase();
  const rows = (list.data ?? []).filter((p) => !needle || p.policy_key.toLowerCase().includes(needle) || p.name.toLowerCase().includes(needle));
  return (
    <>
      <div className="page-head">
        <h1>Policies</h1>
        {admin && (
          <Link className="button primary" to="/policies/new">
            New policy
          </Link>
        )}
      </div>
      <div className="filters" role="search">
        <div className="field">
          <label htmlFor="policy-search">Search policies</label>
          <input id="policy-search" type="search" value={q} placeholder="Key or name" onChange={(e) => setParams(e.target.value ? { q: e.target.value } : {}, { replace: true })} />
        </div>
      </div>
      <ErrorBanner error={list.error} />
      {list.isPending ? (
        <Loading />
      ) : rows.length === 0 ? (
        <Empty>{needle ? `No policy matches “${q}”.` : 'No policies yet.'}</Empty>
      ) : (
        <table>
          <caption className="sr-only">Policies, newest version of each key</caption>
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Name</th>
              <th scope="col">Artifact type</th>
              <th scope="col">Newest version</th>
              <th scope="col">Stages</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((p) => (
              <tr key={p.policy_key}>
                <td>
                  <Link to={`/policies/${encodeURIComponent(p.policy_key)}`}>{p.policy_key}</Link>
                </td>
                <td>{p.name}</td>
                <td>{p.artifact_type}</td>
                <td>
                  <Link to={`/policies/${encodeURIComponent(p.policy_key)}/v/${p.version}`}>v{p.version}</Link> <Badge value={p.status} />
                </td>
                <td>{p.stages.length}</td>
                <td>
                  <Time value={p.updated_at} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
