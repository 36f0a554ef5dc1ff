// The OpenTrail web console: the CloudTrail console's pages (Event history, Trails) on OpenTrail's
// own CloudTrail API. docs/console.md.
import '@cloudscape-design/global-styles/index.css';
import { lazy, StrictMode, Suspense, useCallback, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import AppLayout from '@cloudscape-design/components/app-layout';
import SideNavigation, { type SideNavigationProps } from '@cloudscape-design/components/side-navigation';
import TopNavigation from '@cloudscape-design/components/top-navigation';
import Spinner from '@cloudscape-design/components/spinner';
import Box from '@cloudscape-design/components/box';
import { currentSession, signOut, useSession, type Session } from './api.ts';
import { href, navigate, useRoute } from './route.ts';
import { SignIn } from './pages/SignIn.tsx';
import { EventHistory } from './pages/EventHistory.tsx';

// Event history is the first page; the others load when first opened (a smaller first download).
const EventDetail = lazy(() => import('./pages/EventDetail.tsx').then((m) => ({ default: m.EventDetail })));
const Trails = lazy(() => import('./pages/Trails.tsx').then((m) => ({ default: m.Trails })));
const TrailDetail = lazy(() => import('./pages/TrailDetail.tsx').then((m) => ({ default: m.TrailDetail })));
const TrailForm = lazy(() => import('./pages/TrailForm.tsx').then((m) => ({ default: m.TrailForm })));

/**
 * The navigation. Later capabilities (Lake, Insights, ...) add their pages here: one entry each,
 * and a case in `Page` below.
 */
const NAVIGATION: SideNavigationProps.Item[] = [
  { type: 'link', text: 'Event history', href: href(['events']) },
  { type: 'link', text: 'Trails', href: href(['trails']) },
  { type: 'divider' },
  { type: 'link', text: 'Documentation', href: 'https://github.com/opentrail/opentrail/blob/main/docs/console.md', external: true },
];

function Page({ session }: { session: Session }) {
  const route = useRoute();
  const [first, second, third] = route.path;
  if (first === 'trails') {
    if (second === undefined) return <Trails />;
    if (second === 'create' && third === undefined) return <TrailForm />;
    if (third === 'edit') return <TrailForm name={second} />;
    return <TrailDetail name={second} session={session} />;
  }
  if (first === 'events' && second !== undefined) return <EventDetail eventId={second} />;
  return <EventHistory query={route.query} />;
}

function App() {
  const [session, setSession] = useState<Session | undefined>();
  const [checked, setChecked] = useState(false);
  const [region, setRegion] = useState<string>('');
  const route = useRoute();
  const expired = useCallback(() => setSession(undefined), []);

  useEffect(() => {
    currentSession().then((s) => {
      setSession(s);
      if (s) setRegion(localStorage.getItem(`opentrail.region.${s.accountId}`) ?? s.region);
    }).catch(() => setSession(undefined)).finally(() => setChecked(true));
  }, []);
  const activeRegion = session && session.regions.includes(region) ? region : session?.region ?? '';
  useSession(session, activeRegion, expired);

  if (!checked) return <Box padding="xxl" textAlign="center"><Spinner size="large" /></Box>;
  if (!session) {
    return (
      <SignIn
        onSignedIn={(s) => {
          setSession(s);
          setRegion(s.region);
          if (!location.hash || location.hash === '#/' || location.hash === '#') navigate(href(['events']), true);
        }}
      />
    );
  }
  const active = `#/${route.path[0] ?? 'events'}`;
  return (
    <>
      <div id="top-nav" style={{ position: 'sticky', top: 0, zIndex: 1002 }}>
        <TopNavigation
          identity={{ href: href(['events']), title: 'OpenTrail' }}
          utilities={[
            {
              type: 'menu-dropdown',
              text: activeRegion,
              ariaLabel: `Region: ${activeRegion}`,
              title: 'Region',
              items: session.regions.map((r) => ({ id: r, text: r, checked: r === activeRegion })),
              onItemClick: (e) => {
                localStorage.setItem(`opentrail.region.${session.accountId}`, e.detail.id);
                setRegion(e.detail.id);
              },
            },
            {
              type: 'menu-dropdown',
              text: `${session.userName} @ ${session.accountId}`,
              description: session.arn,
              iconName: 'user-profile',
              ariaLabel: `Signed in as ${session.userName} in account ${session.accountId}`,
              items: [
                { id: 'account', text: `Account ${session.accountId}`, disabled: true },
                { id: 'key', text: `Access key ${session.accessKeyId}`, disabled: true },
                { id: 'expires', text: `Session ends ${new Date(session.expiresAt).toLocaleTimeString()}`, disabled: true },
                { id: 'signout', text: 'Sign out' },
              ],
              onItemClick: (e) => {
                if (e.detail.id === 'signout') void signOut().finally(() => setSession(undefined));
              },
            },
          ]}
        />
      </div>
      <AppLayout
        key={activeRegion}
        headerSelector="#top-nav"
        toolsHide
        navigation={
          <SideNavigation
            header={{ text: 'CloudTrail', href: href(['events']) }}
            activeHref={active}
            items={NAVIGATION}
            onFollow={(e) => {
              if (!e.detail.external) {
                e.preventDefault();
                navigate(e.detail.href);
              }
            }}
          />
        }
        content={<Suspense fallback={<Spinner size="large" />}><Page session={session} /></Suspense>}
      />
    </>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
