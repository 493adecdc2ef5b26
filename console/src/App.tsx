import { useEffect } from 'react';
import { useQuery } from '@tanstack/react-query';
import { Link, Navigate, NavLink, Outlet, useLocation } from 'react-router';
import { api, call } from './api/client';
import { useAuth } from './auth/AuthProvider';
import { TimeToggle } from './components/Time';
import { Loading } from './components/ui';

const NAV: readonly [string, string][] = [
  ['/', 'Overview'],
  ['/policies', 'Policies'],
  ['/requests', 'Requests'],
  ['/tasks', 'Tasks'],
  ['/delegations', 'Delegations'],
  ['/deliveries', 'Deliveries'],
  ['/secrets', 'Callback secrets'],
  ['/audit', 'Audit log'],
];

function useServiceVersion(): string | null {
  const q = useQuery({
    queryKey: ['version'],
    queryFn: () => call(api.GET('/v1/awe/version')),
    staleTime: Infinity,
  });
  const env = q.data as { response?: { service_version?: string; git_commit?: string } } | undefined;
  const v = env?.response?.service_version;
  if (!v) return null;
  const commit = env?.response?.git_commit;
  return commit && commit !== 'dev' ? `${v} (${commit.slice(0, 10)})` : v;
}

export function Layout() {
  const { user, signOut, config, refused } = useAuth();
  const version = useServiceVersion();
  const location = useLocation();
  useEffect(() => {
    document.getElementById('main')?.focus({ preventScroll: true });
  }, [location.pathname]);
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          AWE console
        </Link>
        {user && (
          <nav aria-label="Main">
            <ul>
              {NAV.map(([to, label]) => (
                <li key={to}>
                  <NavLink to={to} end={to === '/'}>
                    {label}
                  </NavLink>
                </li>
              ))}
            </ul>
          </nav>
        )}
        <div className="session">
          <TimeToggle />
          {user && (
            <>
              <span className="who">
                <span>{user.name}</span> <span className="badge tone-info">{user.isAdmin ? 'Admin' : user.canRead ? 'Viewer' : 'No console role'}</span>
              </span>
              <button type="button" onClick={() => void signOut()}>
                Sign out
              </button>
            </>
          )}
        </div>
      </header>
      {refused && (
        <div className="error-banner" role="alert">
          The service refused your token (401). <Link to="/sign-in">Sign in again</Link>.
        </div>
      )}
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
      <footer>
        AWE service {version ?? config?.service_version ?? '…'}
      </footer>
    </div>
  );
}

/** Pages behind sign-in; the page wanted is kept in the navigation state. */
export function RequireSession() {
  const { ready, user, configError } = useAuth();
  const location = useLocation();
  if (!ready) return <Loading what="Reading the console's settings" />;
  if (!user) {
    if (configError) return <Navigate to="/sign-in" replace />;
    return <Navigate to="/sign-in" replace state={{ from: location.pathname + location.search }} />;
  }
  if (!user.canRead) {
    return (
      <div className="card">
        <h1>No access</h1>
        <p>Your account has neither AWE_ADMIN nor AWE_VIEWER. Ask an administrator for one of these roles.</p>
      </div>
    );
  }
  return <Outlet />;
}
