// Activate / deactivate a policy version, with a confirmation that says what
// changes for new requests.
import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { PolicyStatus } from '../api/types';
import { ConfirmDialog } from '../components/ui';
import { refreshSoon } from '../lib/refresh';

export function ActivationButtons({ policyKey, version, status, activeVersion }: { policyKey: string; version: number; status: PolicyStatus; activeVersion: number | null }) {
  const qc = useQueryClient();
  const [open, setOpen] = useState<'activate' | 'deactivate' | null>(null);
  const path = { policy_key: policyKey, version };
  const m = useMutation({
    mutationFn: (what: 'activate' | 'deactivate') =>
      what === 'activate'
        ? call(api.POST('/v1/awe/policies/{policy_key}/versions/{version}/activate', { params: { path } }))
        : call(api.POST('/v1/awe/policies/{policy_key}/versions/{version}/deactivate', { params: { path } })),
    onSuccess: () => {
      setOpen(null);
      refreshSoon(() => {
        void qc.invalidateQueries({ queryKey: ['policies'] });
        void qc.invalidateQueries({ queryKey: ['policy', policyKey] });
      });
    },
  });
  return (
    <>
      {status !== 'active' && (
        <button type="button" className="primary" onClick={() => (m.reset(), setOpen('activate'))}>
          Activate
        </button>
      )}
      {status === 'active' && (
        <button type="button" className="danger" onClick={() => (m.reset(), setOpen('deactivate'))}>
          Deactivate
        </button>
      )}
      <ConfirmDialog
        open={open === 'activate'}
        title={`Activate ${policyKey} v${version}?`}
        confirmLabel="Activate"
        busy={m.isPending}
        error={m.error}
        onCancel={() => setOpen(null)}
        onConfirm={() => m.mutate('activate')}
      >
        <p>
          New requests for <strong>{policyKey}</strong> will use version {version}; requests already created keep their version.
        </p>
        {activeVersion !== null && activeVersion !== version && <p>Version {activeVersion}, active now, will be archived.</p>}
      </ConfirmDialog>
      <ConfirmDialog
        open={open === 'deactivate'}
        title={`Deactivate ${policyKey} v${version}?`}
        confirmLabel="Deactivate"
        danger
        busy={m.isPending}
        error={m.error}
        onCancel={() => setOpen(null)}
        onConfirm={() => m.mutate('deactivate')}
      >
        <p>
          New requests for <strong>{policyKey}</strong> will be refused (no active version) until a version is activated; requests already created keep their version.
        </p>
      </ConfirmDialog>
    </>
  );
}
