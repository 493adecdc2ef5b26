import { useCallback, useMemo } from 'react';
import { useSearchParams } from 'react-router';

/**
 * Filters kept in the URL's query string, so a filtered list is a link.
 * Changing a filter resets `offset`/`page` unless that is what changed.
 */
export function useUrlFilters<K extends string>(keys: readonly K[]) {
  const [params, setParams] = useSearchParams();
  const values = useMemo(() => {
    const out = {} as Record<K, string>;
    for (const k of keys) out[k] = params.get(k) ?? '';
    return out;
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [params, keys.join(',')]);
  const set = useCallback(
    (next: Partial<Record<K, string>>) => {
      setParams(
        (prev) => {
          const p = new URLSearchParams(prev);
          for (const [k, v] of Object.entries(next) as [K, string | undefined][]) {
            if (v === undefined || v === '') p.delete(k);
            else p.set(k, v);
          }
          if (!('offset' in next)) p.delete('offset');
          if (!('page' in next)) p.delete('page');
          return p;
        },
        { replace: false },
      );
    },
    [setParams],
  );
  return [values, set] as const;
}

export function intParam(text: string, fallback: number): number {
  const n = Number.parseInt(text, 10);
  return Number.isFinite(n) && n >= 0 ? n : fallback;
}
