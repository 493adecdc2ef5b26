/**
 * Refreshes now, and again shortly: a write the engine applies late (202
 * Accepted) shows up on the second or third look.
 */
export function refreshSoon(refresh: () => void, later: readonly number[] = [1000, 3000]): void {
  refresh();
  for (const ms of later) window.setTimeout(refresh, ms);
}
