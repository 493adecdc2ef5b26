import { useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link, useNavigate, useParams } from 'react-router';
import { api, call } from '../api/client';
import { useIsAdmin } from '../auth/AuthProvider';
import { Time } from '../components/Time';
import { Badge, Empty, ErrorBanner, Loading } from '../components/ui';
import { ActivationButtons } from './policyActions';

export default function PolicyVersions() {
  const key = useParams().key!;
  const admin = useIsAdmin();
  const navigate = useNavigate();
  const q = useQuery({ queryKey: ['policy', key, 'versions'], queryFn: () => call(api.GET('/v1/awe/policies/{policy_key}/versions', { params: { path: { policy_key: key } } })) });
  const versions = q.data ?? [];
  const active = versions.find((v) => v.status === 'active')?.version ?? null;
  const [a, setA] = useState('');
  const [b, setB] = useState('');
  const enc = encodeURIComponent(key);
  return (
    <>
      <p className="crumbs">
        <Link to="/policies">Policies</Link> /
      </p>
      <h1>{key}: versions</h1>
      <ErrorBanner error={q.error} />
      {q.isPending ? (
        <Loading />
      ) : versions.length === 0 ? (
        <Empty>No versions.</Empty>
      ) : (
        <>
          <table>
            <caption className="sr-only">Versions of {key}, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                {admin && <th scope="col">Actions</th>}
              </tr>
            </thead>
            <tbody>
              {versions.map((v) => (
                <tr key={v.version}>
                  <td>
                    <Link to={`/policies/${enc}/v/${v.version}`}>v{v.version}</Link>
                  </td>
                  <td>
                    <Badge value={v.status} />
                  </td>
                  <td>
                    <Time value={v.created_at} />
                  </td>
                  {admin && (
                    <td className="row-actions">
                      <Link to={`/policies/${enc}/v/${v.version}/edit`} className="button">
                        {v.status === 'draft' ? 'Edit draft' : 'New version from this'}
                      </Link>
                      <ActivationButtons policyKey={key} version={v.version} status={v.status} activeVersion={active} />
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
          {versions.length > 1 && (
            <div className="filters" role="group" aria-label="Compare versions">
              <VersionSelect id="cmp-a" label="Compare version" value={a || String(versions[1].version)} versions={versions.map((v) => v.version)} onChange={setA} />
              <VersionSelect id="cmp-b" label="with version" value={b || String(versions[0].version)} versions={versions.map((v) => v.version)} onChange={setB} />
              <div className="filter-actions">
                <button type="button" onClick={() => navigate(`/policies/${enc}/diff?a=${a || versions[1].version}&b=${b || versions[0].version}`)}>
                  Compare
                </button>
              </div>
            </div>
          )}
        </>
      )}
    </>
  );
}

export function VersionSelect({ id, label, value, versions, onChange }: { id: string; label: string; value: string; versions: number[]; onChange(v: string): void }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} value={value} onChange={(e) => onChange(e.target.value)}>
        {versions.map((v) => (
          <option key={v} value={v}>
            v{v}
          </option>
        ))}
      </select>
    </div>
  );
}
