import { useMemo, useState } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link, useParams, useSearchParams } from 'react-router';
import { api, call } from '../api/client';
import { CheckField } from '../components/Field';
import { DiffView } from '../components/DiffView';
import { ErrorBanner, Loading } from '../components/ui';
import { diff, VOLATILE_POLICY_KEYS, withoutKeys } from '../lib/diff';
import { usePolicyVersion } from './PolicyView';
import { VersionSelect } from './PolicyVersions';

export default function PolicyDiff() {
  const key = useParams().key!;
  const [params, setParams] = useSearchParams();
  const [ignore, setIgnore] = useState(true);
  const versions = useQuery({ queryKey: ['policy', key, 'versions'], queryFn: () => call(api.GET('/v1/awe/policies/{policy_key}/versions', { params: { path: { policy_key: key } } })) });
  const list = versions.data?.map((v) => v.version) ?? [];
  // Without a and b: the previous version against the newest.
  const a = Number(params.get('a') ?? list[1] ?? list[0] ?? '');
  const b = Number(params.get('b') ?? list[0] ?? '');
  const qa = usePolicyVersion(key, a);
  const qb = usePolicyVersion(key, b);
  const changes = useMemo(() => {
    if (!qa.data || !qb.data) return null;
    return ignore ? diff(withoutKeys(qa.data, VOLATILE_POLICY_KEYS), withoutKeys(qb.data, VOLATILE_POLICY_KEYS)) : diff(qa.data, qb.data);
  }, [qa.data, qb.data, ignore]);
  return (
    <>
      <p className="crumbs">
        <Link to="/policies">Policies</Link> / <Link to={`/policies/${encodeURIComponent(key)}`}>{key}</Link> /
      </p>
      <h1>Compare versions of {key}</h1>
      <div className="filters">
        <VersionSelect id="diff-a" label="Version A" value={String(a || '')} versions={list} onChange={(v) => setParams({ a: v, b: String(b) })} />
        <VersionSelect id="diff-b" label="Version B" value={String(b || '')} versions={list} onChange={(v) => setParams({ a: String(a), b: v })} />
        <CheckField label="Ignore ids, timestamps, status and version" checked={ignore} onChange={setIgnore} />
      </div>
      <ErrorBanner error={versions.error ?? qa.error ?? qb.error} />
      {versions.isPending ? <Loading /> : !a || !b ? <p>Pick two versions.</p> : changes === null ? <Loading /> : <DiffView changes={changes} beforeLabel={`v${a}`} afterLabel={`v${b}`} />}
    </>
  );
}
