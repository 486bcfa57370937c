// One tenant: status with Suspend / Resume, live sockets, usage charts, and its apps.
import { useMemo, useRef, useState } from 'preact/hooks';
import { UsageChart } from './charts.js';
import { count, ErrorNote, href, html, percent, usePoll, when } from './ui.js';

const RANGES = { HOUR: 48 * 3600e3, DAY: 30 * 86400e3 };

export function TenantDetail({ api, id }) {
  const [reload, setReload] = useState(0);
  const tenant = usePoll(() => api('DashboardTenant', { id }), 0, [id, reload]);
  // Its own open sockets (the cheap usage query), not every tenant's liveConnections.
  const live = usePoll(() => api('DashboardTenantSummary', { tenantId: id }), 3000, [id]);
  const sockets = live.data?.usage?.currentSockets;
  if (tenant.error) return html`<${ErrorNote} error=${tenant.error} />`;
  if (!tenant.data) return html`<p class="loading">Loading…</p>`;
  const t = tenant.data.tenant;
  if (!t) return html`<p class="error" role="alert">No tenant ${id}.</p>`;
  return html`
    <section aria-labelledby="tenant-title">
      <p><a href=${href('tenants')}>← Tenants</a></p>
      <div class="title-row">
        <h1 id="tenant-title">${t.name}</h1>
        <span class=${`status ${t.status.toLowerCase()}`} aria-label="Tenant status">${t.status}</span>
        <${StatusButton} api=${api} tenant=${t} onChanged=${() => setReload((n) => n + 1)} />
      </div>
      <dl class="facts">
        <div><dt>Id</dt><dd><code>${t.id}</code></dd></div>
        <div><dt>Plan</dt><dd>${t.plan}</dd></div>
        <div><dt>Created</dt><dd>${when(t.createdAt)}</dd></div>
        <div><dt>Live sockets</dt><dd aria-label="Live sockets" aria-live="polite">${count(sockets)}</dd></div>
      </dl>
      <${Usage} api=${api} tenantId=${id} apps=${tenant.data.apps} />
    </section>
  `;
}

/** Suspend / Resume, after a confirmation in a modal dialog. */
function StatusButton({ api, tenant, onChanged }) {
  const dialog = useRef(null);
  const [error, setError] = useState(null);
  const next = tenant.status === 'ACTIVE' ? 'SUSPENDED' : 'ACTIVE';
  const verb = next === 'SUSPENDED' ? 'Suspend' : 'Resume';
  const confirm = async () => {
    dialog.current.close();
    setError(null);
    try {
      await api('DashboardSetTenantStatus', { id: tenant.id, status: next });
      onChanged();
    } catch (err) {
      setError(err);
    }
  };
  return html`
    <button type="button" class=${next === 'SUSPENDED' ? 'push danger' : 'push'} onClick=${() => dialog.current.showModal()}>${verb} tenant</button>
    <${ErrorNote} error=${error} />
    <dialog ref=${dialog} aria-labelledby="confirm-title">
      <h2 id="confirm-title">${verb} ${tenant.name}?</h2>
      <p>
        ${next === 'SUSPENDED'
          ? 'Its API keys and user tokens are refused and its open sockets close, until you resume it.'
          : 'Its API keys and user tokens work again.'}
      </p>
      <div class="actions">
        <button type="button" class="quiet" onClick=${() => dialog.current.close()}>Cancel</button>
        <button type="button" class=${next === 'SUSPENDED' ? 'danger' : ''} onClick=${confirm}>${verb}</button>
      </div>
    </dialog>
  `;
}

function Usage({ api, tenantId, apps }) {
  const [granularity, setGranularity] = useState('DAY');
  const { data, error } = usePoll(
    () => {
      const to = new Date();
      return api('DashboardUsage', { tenantId, granularity, to: to.toISOString(), from: new Date(to - RANGES[granularity]).toISOString() });
    },
    30_000,
    [tenantId, granularity],
  );
  const usage = data?.usage;
  const series = useMemo(() => {
    if (!usage) return null;
    const b = usage.buckets;
    return {
      xs: b.map((x) => Date.parse(x.start) / 1000),
      messages: b.map((x) => x.messages),
      activeUsers: b.map((x) => x.activeUsers),
      peakSockets: b.map((x) => x.peakSockets),
      success: b.map((x) => (x.webhookAttempts ? (100 * x.webhookAttemptsSucceeded) / x.webhookAttempts : null)),
    };
  }, [usage]);
  const perApp = new Map((usage?.apps ?? []).map((a) => [a.appId, a]));
  return html`
    <section aria-labelledby="usage-title">
      <div class="title-row">
        <h2 id="usage-title">Usage</h2>
        <div role="group" aria-label="Granularity" class="push toggle">
          ${['HOUR', 'DAY'].map(
            (g) => html`<button type="button" aria-pressed=${granularity === g} onClick=${() => setGranularity(g)}>
              ${g === 'HOUR' ? 'Hourly (48 h)' : 'Daily (30 days)'}
            </button>`,
          )}
        </div>
      </div>
      <${ErrorNote} error=${error} />
      ${usage &&
      html`
        <dl class="facts" aria-label="Usage totals">
          <div><dt>Messages</dt><dd aria-label="Messages">${count(usage.totals.messages)}</dd></div>
          <div><dt>Active users</dt><dd aria-label="Active users">${count(usage.totals.monthlyActiveUsers)}</dd></div>
          <div><dt>Peak sockets</dt><dd aria-label="Peak sockets">${count(usage.totals.peakSockets)}</dd></div>
          <div><dt>Webhook success</dt><dd aria-label="Webhook success rate">${percent(usage.totals.webhookSuccessRate)}</dd></div>
          <div><dt>Dead letters</dt><dd>${count(usage.totals.webhookDeadLetters)}</dd></div>
        </dl>
        <div class="charts">
          <${UsageChart} id="chart-messages" title="Messages" xs=${series.xs} ys=${series.messages} />
          <${UsageChart} id="chart-active-users" title="Active users" xs=${series.xs} ys=${series.activeUsers} />
          <${UsageChart} id="chart-peak-sockets" title="Peak sockets" xs=${series.xs} ys=${series.peakSockets} />
          <${UsageChart} id="chart-webhook-success" title="Webhook success rate" xs=${series.xs} ys=${series.success} percent />
        </div>
      `}
    </section>
    <section aria-labelledby="apps-title">
      <h2 id="apps-title">Apps</h2>
      <table>
        <thead>
          <tr><th scope="col">App</th><th scope="col" class="num">Messages</th><th scope="col" class="num">Sockets now</th>
            <th scope="col" class="num">Webhook success</th><th scope="col" class="num">Dead letters</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
        </thead>
        <tbody>
          ${apps.map((app) => {
            const u = perApp.get(app.id);
            return html`
              <tr key=${app.id}>
                <td>${app.name} <code class="id">${app.id}</code></td>
                <td class="num">${count(u?.totals.messages)}</td>
                <td class="num">${count(u?.currentSockets)}</td>
                <td class="num">${percent(u?.totals.webhookSuccessRate)}</td>
                <td class="num">${count(u?.totals.webhookDeadLetters)}</td>
                <td><a href=${href('apps', app.id, 'dead-letters', tenantId)} aria-label=${`Dead letters of ${app.name}`}>Dead letters</a></td>
              </tr>
            `;
          })}
        </tbody>
      </table>
      ${apps.length === 0 && html`<p class="empty">No apps yet.</p>`}
    </section>
  `;
}
