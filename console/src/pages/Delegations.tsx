import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call, compact } from '../api/client';
import type { DelegationOut } from '../api/types';
import { useIsAdmin } from '../auth/AuthProvider';
import { TextField } from '../components/Field';
import { FilterForm } from '../components/FilterForm';
import { Picker } from '../components/Picker';
import { Time } from '../components/Time';
import { ConfirmDialog, Empty, ErrorBanner, Loading, Section } from '../components/ui';
import { ApiError, fieldMap, issuesAt } from '../lib/errors';
import { localInputToIso } from '../lib/time';
import { useUrlFilters } from '../lib/useUrlFilters';

const KEYS = ['user_id'] as const;

export default function Delegations() {
  const admin = useIsAdmin();
  const [f, setF] = useUrlFilters(KEYS);
  const query = { ...compact(f), limit: 500 };
  const q = useQuery({ queryKey: ['delegations', query], queryFn: () => call(api.GET('/v1/awe/delegations', { params: { query } })) });
  const [revoking, setRevoking] = useState<DelegationOut | null>(null);
  const qc = useQueryClient();
  const revoke = useMutation({
    mutationFn: (id: string) => call(api.DELETE('/v1/awe/delegations/{delegation_id}', { params: { path: { delegation_id: id } } })),
    onSuccess: () => {
      setRevoking(null);
      void qc.invalidateQueries({ queryKey: ['delegations'] });
    },
  });
  const now = Date.now();
  return (
    <>
      <h1>Delegations</h1>
      {admin && <CreateDelegation />}
      <FilterForm defs={[{ key: 'user_id', label: 'User id' }]} values={f} onApply={setF} />
      <ErrorBanner error={q.error} />
      {q.isPending ? (
        <Loading />
      ) : !q.data?.length ? (
        <Empty>No delegations.</Empty>
      ) : (
        <table>
          <caption className="sr-only">Delegations, latest start first</caption>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Delegate to</th>
              <th scope="col">From</th>
              <th scope="col">Until</th>
              <th scope="col">State</th>
              <th scope="col">Reason</th>
              <th scope="col">Created by</th>
              {admin && <th scope="col">Actions</th>}
            </tr>
          </thead>
          <tbody>
            {q.data.map((d) => {
              const state = Date.parse(d.ends_at) <= now ? 'ended' : Date.parse(d.starts_at) > now ? 'upcoming' : 'in force';
              return (
                <tr key={d.id}>
                  <td>{d.user_id}</td>
                  <td>{d.delegate_to}</td>
                  <td>
                    <Time value={d.starts_at} />
                  </td>
                  <td>
                    <Time value={d.ends_at} />
                  </td>
                  <td>
                    <span className={`badge tone-${state === 'in force' ? 'ok' : state === 'upcoming' ? 'info' : 'muted'}`}>{state}</span>
                  </td>
                  <td>{d.reason}</td>
                  <td>{d.created_by}</td>
                  {admin && (
                    <td>
                      <button type="button" className="small danger" aria-label={`Revoke delegation of ${d.user_id} to ${d.delegate_to}`} onClick={() => (revoke.reset(), setRevoking(d))}>
                        Revoke
                      </button>
                    </td>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
      <ConfirmDialog open={revoking !== null} title="Revoke this delegation?" confirmLabel="Revoke" danger busy={revoke.isPending} error={revoke.error} onCancel={() => setRevoking(null)} onConfirm={() => revoking && revoke.mutate(revoking.id)}>
        {revoking && (
          <p>
            New tasks for <strong>{revoking.user_id}</strong> will no longer go to {revoking.delegate_to}. Tasks already delegated stay with {revoking.delegate_to}.
          </p>
        )}
      </ConfirmDialog>
    </>
  );
}

function CreateDelegation() {
  const qc = useQueryClient();
  const [user, setUser] = useState('');
  const [to, setTo] = useState('');
  const [starts, setStarts] = useState('');
  const [ends, setEnds] = useState('');
  const [reason, setReason] = useState('');
  const m = useMutation({
    mutationFn: () =>
      call(api.POST('/v1/awe/delegations', { body: { user_id: user.trim(), delegate_to: to.trim(), starts_at: localInputToIso(starts), ends_at: localInputToIso(ends), reason: reason.trim() || null } })),
    onSuccess: () => {
      setUser('');
      setTo('');
      setReason('');
      void qc.invalidateQueries({ queryKey: ['delegations'] });
    },
  });
  const fields = m.error instanceof ApiError ? fieldMap(m.error.fields) : new Map<string, string[]>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    m.mutate();
  };
  return (
    <Section title="New delegation">
      <form onSubmit={submit} aria-label="New delegation" className="grid3">
        <Picker kind="user" label="User (delegating)" value={user} onChange={setUser} required errors={issuesAt(fields, 'user_id')} />
        <Picker kind="user" label="Delegate to" value={to} onChange={setTo} required errors={issuesAt(fields, 'delegate_to')} />
        <TextField label="Reason" value={reason} onChange={setReason} errors={issuesAt(fields, 'reason')} />
        <TextField label="Starts at" type="datetime-local" value={starts} onChange={setStarts} required errors={issuesAt(fields, 'starts_at')} hint="Your local time" />
        <TextField label="Ends at" type="datetime-local" value={ends} onChange={setEnds} required errors={issuesAt(fields, 'ends_at')} hint="Your local time" />
        <div className="field end">
          <button type="submit" className="primary" disabled={m.isPending || !user.trim() || !to.trim() || !starts || !ends}>
            Create delegation
          </button>
        </div>
      </form>
      <ErrorBanner error={m.error} title="Not created" />
      {m.isSuccess && <p role="status">Delegation created.</p>}
    </Section>
  );
}
