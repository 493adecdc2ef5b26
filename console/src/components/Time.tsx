import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from 'react';
import { formatTime, type TimeZoneMode } from '../lib/time';

const KEY = 'awe.console.timeZone';
interface TimeCtx { mode: TimeZoneMode; setMode(m: TimeZoneMode): void }
const Ctx = createContext<TimeCtx>({ mode: 'utc', setMode: () => {} });

function stored(): TimeZoneMode {
  try {
    return window.localStorage.getItem(KEY) === 'local' ? 'local' : 'utc';
  } catch {
    return 'utc';
  }
}

export function TimeProvider({ children }: { children: ReactNode }) {
  const [mode, set] = useState<TimeZoneMode>(stored);
  const setMode = useCallback((m: TimeZoneMode) => {
    set(m);
    try {
      window.localStorage.setItem(KEY, m);
    } catch {
      /* private mode: keep it for this page only */
    }
  }, []);
  const value = useMemo(() => ({ mode, setMode }), [mode, setMode]);
  return <Ctx.Provider value={value}>{children}</Ctx.Provider>;
}

export function useTimeMode(): TimeCtx {
  return useContext(Ctx);
}

export function Time({ value }: { value: string | null | undefined }) {
  const { mode } = useTimeMode();
  if (!value) return <span className="muted">—</span>;
  return <time dateTime={value}>{formatTime(value, mode)}</time>;
}

export function TimeToggle() {
  const { mode, setMode } = useTimeMode();
  return (
    <label className="inline">
      Times in{' '}
      <select aria-label="Time zone" value={mode} onChange={(e) => setMode(e.target.value === 'local' ? 'local' : 'utc')}>
        <option value="utc">UTC</option>
        <option value="local">Local</option>
      </select>
    </label>
  );
}
