// Live connections: sockets open now, in total and per tenant, refreshed every few seconds.
import { count, ErrorNote, href, html, usePoll } from './ui.js';

export const LIVE_REFRESH_MS = 2000;

export function LiveConnections({ api }) {
  const { data, error } = usePoll(() => api('DashboardLiveConnections'), LIVE_REFRESH_MS, []);
  const live = data?.liveConnections;
  return html`
    <section aria-labelledby="live-title">
      <h1 id="live-title">Live connections</h1>
      <${ErrorNote} error=${error} />
      ${live &&
      html`
        <p class="big"><span aria-label="Total sockets" aria-live="polite">${count(live.total)}</span> sockets open</p>
        <table>
          <thead><tr><th scope="col">Tenant</th><th scope="col" class="num">Sockets</th></tr></thead>
          <tbody>
            ${live.tenants.map(
              (t) => html`<tr key=${t.tenantId}><td><a href=${href('tenants', t.tenantId)}>${t.name}</a></td><td class="num">${count(t.sockets)}</td></tr>`,
            )}
          </tbody>
        </table>
        ${live.tenants.length === 0 && html`<p class="empty">No sockets open.</p>`}
        <p class="hint">Refreshed every ${LIVE_REFRESH_MS / 1000} s.</p>
      `}
    </section>
  `;
}
