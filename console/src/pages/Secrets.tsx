import { useState, type FormEvent } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { SecretCreated, SecretOut } from '../api/types';
import { useIsAdmin } from '../auth/AuthProvider';
import { TextField } from '../components/Field';
import { Time } from '../components/Time';
import { Badge, ConfirmDialog, CopyButton, Empty, ErrorBanner, Loading, Section } from '../components/ui';
import { ApiError, fieldMap, issuesAt } from '../lib/errors';

interface Shown {
  secret: SecretCreated;
  /** When rotating: the predecessor and until when it still signs. */
  previous?: SecretOut;
}

export default function Secrets() {
  const admin = useIsAdmin();
  const qc = useQueryClient();
  const q = useQuery({ queryKey: ['secrets'], queryFn: () => call(api.GET('/v1/awe/admin/callback-secrets')) });
  const [shown, setShown] = useState<Shown | null>(null);
  const [confirm, setConfirm] = useState<{ what: 'rotate' | 'revoke'; secret: SecretOut } | null>(null);
  const rotate = useMutation({
    mutationFn: (s: SecretOut) => call(api.POST('/v1/awe/admin/callback-secrets/{secret_id}/rotate', { params: { path: { secret_id: s.id } } })) as Promise<SecretCreated>,
    onSuccess: async (created, old) => {
      setConfirm(null);
      await qc.invalidateQueries({ queryKey: ['secrets'] });
      const list = qc.getQueryData<SecretOut[]>(['secrets']);
      setShown({ secret: { ...created, caller_service: created?.caller_service ?? old.caller_service }, previous: list?.find((x) => x.id === old.id) ?? old });
    },
  });
  const revoke = useMutation({
    mutationFn: (s: SecretOut) => call(api.DELETE('/v1/awe/admin/callback-secrets/{secret_id}', { params: { path: { secret_id: s.id } } })),
    onSuccess: () => {
      setConfirm(null);
      void qc.invalidateQueries({ queryKey: ['secrets'] });
    },
  });
  const groups = new Map<string, SecretOut[]>();
  for (const s of q.data ?? []) groups.set(s.caller_service, [...(groups.get(s.caller_service) ?? []), s]);
  const busy = confirm?.what === 'rotate' ? rotate : revoke;
  return (
    <>
      <h1>Callback secrets</h1>
      <p className="muted">Each caller service's webhooks are signed with its active secret (HMAC-SHA256, header X-Approval-Signature).</p>
      {shown && <SecretOnce shown={shown} onDone={() => setShown(null)} />}
      {admin && <CreateSecret onCreated={(secret) => setShown({ secret })} />}
      <ErrorBanner error={q.error} />
      {q.isPending ? (
        <Loading />
      ) : groups.size === 0 ? (
        <Empty>No callback secrets.</Empty>
      ) : (
        [...groups].map(([caller, list]) => (
          <Section key={caller} title={caller}>
            <table>
              <caption className="sr-only">Secrets of {caller}, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Fingerprint</th>
                  <th scope="col">Status</th>
                  <th scope="col">Created</th>
                  <th scope="col">Rotated</th>
                  <th scope="col">Valid until</th>
                  <th scope="col">Revoked</th>
                  {admin && <th scope="col">Actions</th>}
                </tr>
              </thead>
              <tbody>
                {list.map((s) => (
                  <tr key={s.id}>
                    <td>
                      <code title={s.fingerprint}>{s.fingerprint.slice(0, 16)}…</code>
                    </td>
                    <td>
                      <Badge value={s.status} />
                    </td>
                    <td>
                      <Time value={s.created_at} /> <span className="muted">by {s.created_by}</span>
                    </td>
                    <td>
                      <Time value={s.rotated_at} />
                    </td>
                    <td>
                      <Time value={s.valid_until} />
                    </td>
                    <td>
                      <Time value={s.revoked_at} />
                    </td>
                    {admin && (
                      <td className="row-actions">
                        {s.status === 'active' && (
                          <button type="button" className="small" aria-label={`Rotate secret ${s.fingerprint.slice(0, 8)} of ${caller}`} onClick={() => (rotate.reset(), setConfirm({ what: 'rotate', secret: s }))}>
                            Rotate
                          </button>
                        )}
                        {s.status !== 'revoked' && (
                          <button type="button" className="small danger" aria-label={`Revoke secret ${s.fingerprint.slice(0, 8)} of ${caller}`} onClick={() => (revoke.reset(), setConfirm({ what: 'revoke', secret: s }))}>
                            Revoke
                          </button>
                        )}
                      </td>
                    )}
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
        ))
      )}
      <ConfirmDialog
        open={confirm !== null}
        title={confirm?.what === 'rotate' ? `Rotate the secret of ${confirm.secret.caller_service}?` : `Revoke this secret of ${confirm?.secret.caller_service ?? ''}?`}
        confirmLabel={confirm?.what === 'rotate' ? 'Rotate' : 'Revoke'}
        danger={confirm?.what === 'revoke'}
        busy={busy.isPending}
        error={busy.error}
        onCancel={() => setConfirm(null)}
        onConfirm={() => confirm && (confirm.what === 'rotate' ? rotate.mutate(confirm.secret) : revoke.mutate(confirm.secret))}
      >
        {confirm?.what === 'rotate' ? (
          <p>A new secret is made and shown once. The current one keeps signing through an overlap window so the caller can switch.</p>
        ) : (
          <p>Deliveries stop being signed with this secret at once. Callers verifying signatures will refuse webhooks until they have a new secret.</p>
        )}
      </ConfirmDialog>
    </>
  );
}

function SecretOnce({ shown, onDone }: { shown: Shown; onDone(): void }) {
  const s = shown.secret;
  return (
    <section className="card secret-once" aria-labelledby="secret-once-h" role="alert">
      <h2 id="secret-once-h">New secret for {s.caller_service}</h2>
      <p className="warn-note">Copy it now: it will not be shown again.</p>
      {s.secret ? (
        <p className="secret-value">
          <code aria-label="Secret value">{s.secret}</code> <CopyButton value={s.secret} label="Copy secret" />
        </p>
      ) : (
        <p>The service did not return the secret value{s.command_id ? ` (command ${s.command_id} still being applied)` : ''}.</p>
      )}
      {shown.previous && (
        <p>
          The previous secret ({shown.previous.fingerprint.slice(0, 16)}…) stays valid until <Time value={shown.previous.valid_until} />: update the caller before then.
        </p>
      )}
      <button type="button" onClick={onDone}>
        I have stored it
      </button>
    </section>
  );
}

function CreateSecret({ onCreated }: { onCreated(s: SecretCreated): void }) {
  const qc = useQueryClient();
  const [caller, setCaller] = useState('');
  const m = useMutation({
    mutationFn: () => call(api.POST('/v1/awe/admin/callback-secrets', { body: { caller_service: caller.trim() } })) as Promise<SecretCreated>,
    onSuccess: (s) => {
      // A late engine (202) answers without the listing fields: keep the caller we asked for.
      onCreated({ ...s, caller_service: s?.caller_service ?? caller.trim() });
      setCaller('');
      void qc.invalidateQueries({ queryKey: ['secrets'] });
    },
  });
  const fields = m.error instanceof ApiError ? fieldMap(m.error.fields) : new Map<string, string[]>();
  const submit = (e: FormEvent) => {
    e.preventDefault();
    if (caller.trim()) m.mutate();
  };
  return (
    <Section title="New secret">
      <form onSubmit={submit} aria-label="New secret" className="inline-form">
        <TextField label="Caller service (its token's sub)" value={caller} onChange={setCaller} required errors={issuesAt(fields, 'caller_service')} />
        <button type="submit" className="primary" disabled={m.isPending || !caller.trim()}>
          Create secret
        </button>
      </form>
      <ErrorBanner error={m.error} title="Not created" />
    </Section>
  );
}
