import { lazy, Suspense, type ComponentType, type LazyExoticComponent } from 'react';
import { createBrowserRouter } from 'react-router';
import { Layout, RequireSession } from './App';
import { Loading } from './components/ui';
import { BASENAME } from './paths';
import { SignIn, SignedIn } from './pages/SignIn';

const page = (load: () => Promise<{ default: ComponentType }>) => {
  const C: LazyExoticComponent<ComponentType> = lazy(load);
  return (
    <Suspense fallback={<Loading what="Loading page" />}>
      <C />
    </Suspense>
  );
};

export const router = createBrowserRouter(
  [
    {
      element: <Layout />,
      children: [
        { path: '/sign-in', element: <SignIn /> },
        { path: '/signed-in', element: <SignedIn /> },
        {
          element: <RequireSession />,
          children: [
            { path: '/', element: page(() => import('./pages/Overview')) },
            { path: '/policies', element: page(() => import('./pages/Policies')) },
            { path: '/policies/new', element: page(() => import('./pages/PolicyEdit')) },
            { path: '/policies/:key', element: page(() => import('./pages/PolicyVersions')) },
            { path: '/policies/:key/diff', element: page(() => import('./pages/PolicyDiff')) },
            { path: '/policies/:key/v/:version', element: page(() => import('./pages/PolicyView')) },
            { path: '/policies/:key/v/:version/edit', element: page(() => import('./pages/PolicyEdit')) },
            { path: '/requests', element: page(() => import('./pages/Requests')) },
            { path: '/requests/:id', element: page(() => import('./pages/RequestDetail')) },
            { path: '/tasks', element: page(() => import('./pages/Tasks')) },
            { path: '/delegations', element: page(() => import('./pages/Delegations')) },
            { path: '/deliveries', element: page(() => import('./pages/Deliveries')) },
            { path: '/deliveries/:id', element: page(() => import('./pages/DeliveryDetail')) },
            { path: '/secrets', element: page(() => import('./pages/Secrets')) },
            { path: '/audit', element: page(() => import('./pages/Audit')) },
            { path: '*', element: page(() => import('./pages/NotFound')) },
          ],
        },
      ],
    },
  ],
  { basename: BASENAME },
);
