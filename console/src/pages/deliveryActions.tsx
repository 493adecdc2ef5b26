import { useMutation, useQueryClient } from '@tanstack/react-query';
import { api, call } from '../api/client';
import type { DeliveryOut } from '../api/types';
import { ErrorBanner } from '../components/ui';
import { refreshSoon } from '../lib/refresh';

/** "Retry" one delivery that has not been delivered; errors shown as given. */
export function RetryButton({ delivery }: { delivery: DeliveryOut }) {
  const qc = useQueryClient();
  const m = useMutation({
    mutationFn: () => call(api.POST('/v1/awe/admin/deliveries/{delivery_id}/retry', { params: { path: { delivery_id: delivery.id } } })),
    onSuccess: () =>
      refreshSoon(() => {
        void qc.invalidateQueries({ queryKey: ['deliveries'] });
        void qc.invalidateQueries({ queryKey: ['delivery', delivery.id] });
      }, [1000, 3000, 8000]),
  });
  if (delivery.status === 'delivered') return null;
  return (
    <>
      <button type="button" className="small" aria-label={`Retry delivery ${delivery.event_type} #${delivery.seq}`} disabled={m.isPending} onClick={() => m.mutate()}>
        {m.isPending ? 'Retrying…' : m.isSuccess ? 'Retry queued' : 'Retry'}
      </button>
      <ErrorBanner error={m.error} />
    </>
  );
}
