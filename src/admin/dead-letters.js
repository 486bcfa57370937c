// An app's dead letters (webhook deliveries whose every attempt failed), each with Replay.
// A replayed row stays in the list with the state replay gave it (PENDING) until Refresh.
import { useState } from 'preact/hooks';
import { count, ErrorNote, href, html, usePoll, when } from './ui.js';

const PAGE = 50;

export function DeadLetters({ api, appId, tenantId }) {
  const [cursors, setCursors] = useState([null]);
  const [reload, setReload] = useState(0);
  const [replayed, setReplayed] = useState({});
  const [error, setError] = useState(null);
  const after = cursors.at(-1);
  const page = usePoll(() => api('DashboardDeadLetters', { appId, first: PAGE, after }), 0, [appId, after, reload]);
  const urls = new Map((page.data?.webhookEndpoints ?? []).map((e) => [e.id, e.url]));
  const refresh = () => {
    setReplayed({});
    setReload((n) => n + 1);
  };
  const replay = async (id) => {
    setError(null);
    try {
      const { replayDeadLetter } = await api('DashboardReplayDeadLetter', { id });
      setReplayed((r) => ({ ...r, [id]: replayDeadLetter }));
    } catch (err) {
      setError(err);
    }
  };
  const rows = page.data?.deadLetters.edges.map(({ node }) => ({ ...node, ...replayed[node.id] })) ?? [];
  return html`
    <section aria-labelledby="dead-title">
      <p>${tenantId ? html`<a href=${href('tenants', tenantId)}>← Tenant</a>` : html`<a href=${href('tenants')}>← Tenants</a>`}</p>
      <div class="title-row">
        <h1 id="dead-title">Dead letters</h1>
        <code class="id">${appId}</code>
        <button type="button" class="push quiet" onClick=${refresh}>Refresh</button>
      </div>
      <${ErrorNote} error=${page.error ?? error} />
      ${page.data &&
      html`
        <table>
          <thead>
            <tr><th scope="col">Event</th><th scope="col">Endpoint</th><th scope="col" class="num">Attempts</th>
              <th scope="col">Last error</th><th scope="col">Failed</th><th scope="col">Status</th><th scope="col"><span class="sr-only">Actions</span></th></tr>
          </thead>
          <tbody>
            ${rows.map(
              (d) => html`
                <tr key=${d.id} aria-label=${`Dead letter ${d.id}`}>
                  <td>${d.eventType}${d.seq !== null ? html` <span class="muted">#${d.seq}</span>` : ''}</td>
                  <td class="url">${urls.get(d.endpointId) ?? d.endpointId}</td>
                  <td class="num">${count(d.attempts)}</td>
                  <td class="error-text">${d.lastError ?? (d.lastStatus ? `HTTP ${d.lastStatus}` : '—')}</td>
                  <td>${when(d.failedAt)}</td>
                  <td><span class=${`status ${d.status.toLowerCase()}`}>${d.status}</span></td>
                  <td>
                    <button type="button" disabled=${d.status !== 'FAILED'} onClick=${() => replay(d.id)}
                      aria-label=${`Replay ${d.id}`}>${d.status === 'FAILED' ? 'Replay' : 'Replayed'}</button>
                  </td>
                </tr>
              `,
            )}
          </tbody>
        </table>
        ${rows.length === 0 && html`<p class="empty">No dead letters.</p>`}
        <div class="pager">
          <button type="button" class="quiet" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous</button>
          <button type="button" class="quiet" disabled=${!page.data.deadLetters.pageInfo.hasNextPage}
            onClick=${() => setCursors([...cursors, page.data.deadLetters.pageInfo.endCursor])}>Next</button>
        </div>
      `}
    </section>
  `;
}
