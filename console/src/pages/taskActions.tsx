import { useState } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { TaskOut } from '../api/types';
import { TextField } from '../components/Field';
import { Picker } from '../components/Picker';
import { ConfirmDialog } from '../components/ui';
import { refreshSoon } from '../lib/refresh';

export const REASSIGNABLE = ['open', 'claimed'];

/** "Reassign" with a dialog asking for the new assignee and a reason. */
export function ReassignButton({ task }: { task: TaskOut }) {
  const qc = useQueryClient();
  const [open, setOpen] = useState(false);
  const [to, setTo] = useState('');
  const [reason, setReason] = useState('');
  const m = useMutation({
    mutationFn: () => call(api.POST('/v1/awe/tasks/{task_id}/reassign', { params: { path: { task_id: task.id } }, body: { new_assignee: to.trim(), reason: reason.trim() || null } })),
    onSuccess: () => {
      setOpen(false);
      refreshSoon(() => {
        void qc.invalidateQueries({ queryKey: ['tasks'] });
        void qc.invalidateQueries({ queryKey: ['request', task.request_id] });
      });
    },
  });
  if (!REASSIGNABLE.includes(task.status)) return null;
  return (
    <>
      <button type="button" className="small" aria-label={`Reassign task of ${task.assignee}`} onClick={() => (m.reset(), setOpen(true))}>
        Reassign
      </button>
      <ConfirmDialog
        open={open}
        title={`Reassign ${task.assignee}'s task`}
        confirmLabel="Reassign"
        busy={m.isPending}
        disabled={to.trim() === ''}
        error={m.error}
        onCancel={() => setOpen(false)}
        onConfirm={() => to.trim() && m.mutate()}
      >
        <p>
          Stage {task.stage_order}, {task.kind}. The current task is closed as reassigned and a new one opens for the new assignee with the same due time.
        </p>
        {open && <Picker kind="user" label="New assignee" value={to} onChange={setTo} required />}
        <TextField label="Reason" value={reason} onChange={setReason} />
      </ConfirmDialog>
    </>
  );
}
