import { useEffect, useRef, useState, type FormEvent } from 'react';
import { Link, Navigate, useLocation, useNavigate } from 'react-router';
import { useAuth } from '../auth/AuthProvider';
import { CheckField, TextField } from '../components/Field';
import { ErrorBanner, Loading } from '../components/ui';

function wanted(state: unknown): string {
  const from = (state as { from?: unknown } | null)?.from;
  return typeof from === 'string' && from.startsWith('/') && !from.startsWith('/sign') ? from : '/';
}

export function SignIn() {
  const auth = useAuth();
  const location = useLocation();
  const from = wanted(location.state);
  if (!auth.ready) return <Loading what="Reading the console's settings" />;
  if (auth.configError || !auth.config) {
    return (
      <div className="card narrow">
        <h1>Sign in</h1>
        <ErrorBanner error={auth.configError ?? 'No configuration'} title="Could not read /v1/awe/config" />
        <p>The console reads its sign-in settings from the service. Reload the page once the service answers.</p>
      </div>
    );
  }
  if (auth.user && !auth.refused) return <Navigate to={from} replace />;
  return auth.config.auth_mode === 'oidc' ? <OidcSignIn from={from} issuer={auth.config.issuer} /> : <DevSignIn from={from} />;
}

function OidcSignIn({ from, issuer }: { from: string; issuer: string }) {
  const { signInOidc } = useAuth();
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  return (
    <div className="card narrow">
      <h1>Sign in</h1>
      <p>You will be sent to your organisation's sign-in page ({issuer}) and brought back here.</p>
      <ErrorBanner error={error} />
      <button
        type="button"
        className="primary"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          signInOidc(from).catch((e) => {
            setError(e);
            setBusy(false);
          });
        }}
      >
        Sign in with single sign-on
      </button>
    </div>
  );
}

/** Only ever rendered when the service says auth_mode is "dev". */
function DevSignIn({ from }: { from: string }) {
  const { signInDev } = useAuth();
  const navigate = useNavigate();
  const [name, setName] = useState('Ops Admin');
  const [admin, setAdmin] = useState(true);
  const [viewer, setViewer] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    signInDev(name, [...(admin ? ['AWE_ADMIN'] : []), ...(viewer ? ['AWE_VIEWER'] : [])]);
    navigate(from, { replace: true });
  };
  return (
    <form className="card narrow" onSubmit={submit} aria-labelledby="dev-title">
      <h1 id="dev-title">Dev sign-in</h1>
      <p className="warn-note">This service runs in dev auth mode: tokens are not verified. Never use this mode in production.</p>
      <TextField label="Name" value={name} onChange={setName} required autoComplete="name" />
      <fieldset>
        <legend>Roles</legend>
        <CheckField label="AWE_ADMIN" checked={admin} onChange={setAdmin} />
        <CheckField label="AWE_VIEWER" checked={viewer} onChange={setViewer} />
      </fieldset>
      <button type="submit" className="primary">
        Sign in
      </button>
    </form>
  );
}

/** The OIDC redirect target: finish the code exchange, then go where the user wanted. */
export function SignedIn() {
  const { ready, config, completeOidc } = useAuth();
  const navigate = useNavigate();
  const [error, setError] = useState<unknown>(null);
  const started = useRef(false);
  useEffect(() => {
    if (!ready || config?.auth_mode !== 'oidc' || started.current) return;
    started.current = true;
    completeOidc().then((to) => navigate(to, { replace: true }), setError);
  }, [ready, config, completeOidc, navigate]);
  if (ready && config?.auth_mode !== 'oidc') return <Navigate to="/sign-in" replace />;
  return error ? (
    <div className="card narrow">
      <h1>Sign-in failed</h1>
      <ErrorBanner error={error} />
      <Link to="/sign-in">Try again</Link>
    </div>
  ) : (
    <Loading what="Completing sign-in" />
  );
}
