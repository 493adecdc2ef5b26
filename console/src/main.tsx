import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { RouterProvider } from 'react-router';
import { AuthProvider } from './auth/AuthProvider';
import { TimeProvider } from './components/Time';
import { ApiError } from './lib/errors';
import { BASENAME } from './paths';
import { router } from './router';
import './styles.css';

// The service also serves the console at /v1/awe/admin and /v1/awe/admin/:
// move those onto the router's basename.
if (!window.location.pathname.startsWith(BASENAME)) {
  window.history.replaceState(null, '', `${BASENAME}/${window.location.search}${window.location.hash}`);
}

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      staleTime: 10_000,
      refetchOnWindowFocus: false,
      // Client errors will not get better by asking again.
      retry: (count, error) => !(error instanceof ApiError && error.status >= 400 && error.status < 500) && count < 2,
    },
  },
});

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <AuthProvider>
        <TimeProvider>
          <RouterProvider router={router} />
        </TimeProvider>
      </AuthProvider>
    </QueryClientProvider>
  </StrictMode>,
);
