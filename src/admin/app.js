// The admin page: login, then the views by hash route. The operator token lives in
// sessionStorage (this tab only, gone when it closes), never in localStorage.
import { render } from 'preact';
import { useCallback, useState } from 'preact/hooks';
import { request } from './api.js';
import { DeadLetters } from './dead-letters.js';
import { LiveConnections } from './live.js';
import { Login } from './login.js';
import { TenantDetail } from './tenant.js';
import { Tenants } from './tenants.js';
import { href, html, useRoute } from './ui.js';

const TOKEN_KEY = 'parley.adminToken';

function App() {
  const [token, setToken] = useState(() => sessionStorage.getItem(TOKEN_KEY));
  const route = useRoute();
  const logOut = useCallback(() => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
  }, []);
  const logIn = (accepted) => {
    sessionStorage.setItem(TOKEN_KEY, accepted);
    setToken(accepted);
  };
  // Every view calls Parley through this; a token that stops working logs the page out.
  const api = useCallback(
    (name, variables) =>
      request(token, name, variables).catch((err) => {
        if (err.code === 'UNAUTHENTICATED') logOut();
        throw err;
      }),
    [token],
  );

  if (!token) return html`<${Login} onLogIn=${logIn} />`;
  const [view = 'tenants', id] = route;
  const page =
    view === 'live'
      ? html`<${LiveConnections} api=${api} />`
      : view === 'apps' && id
        ? html`<${DeadLetters} api=${api} appId=${id} tenantId=${route[3]} />`
        : view === 'tenants' && id
          ? html`<${TenantDetail} api=${api} id=${id} />`
          : html`<${Tenants} api=${api} />`;
  return html`
    <header class="bar">
      <strong class="brand">Parley admin</strong>
      <nav aria-label="Main">
        <a href=${href('tenants')} aria-current=${view === 'tenants' ? 'page' : undefined}>Tenants</a>
        <a href=${href('live')} aria-current=${view === 'live' ? 'page' : undefined}>Live connections</a>
      </nav>
      <button type="button" class="quiet" onClick=${logOut}>Log out</button>
    </header>
    <main>${page}</main>
  `;
}

render(html`<${App} />`, document.getElementById('root'));
