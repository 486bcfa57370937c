// Tenants: one page at a time, each with its messages of the last 30 days and its live sockets.
import { useState } from 'preact/hooks';
import { count, ErrorNote, href, html, usePoll } from './ui.js';

const PAGE = 25;

export function Tenants({ api }) {
  // Cursors of the pages before this one, for Previous.
  const [cursors, setCursors] = useState([null]);
  const after = cursors.at(-1);
  const { data, error } = usePoll(
    async () => {
      const { tenants } = await api('DashboardTenants', { first: PAGE, after });
      const rows = await Promise.all(
        tenants.edges.map(async ({ node }) => ({
          ...node,
          usage: await api('DashboardTenantSummary', { tenantId: node.id }).then((d) => d.usage, () => null),
        })),
      );
      return { rows, pageInfo: tenants.pageInfo };
    },
    10_000,
    [after],
  );
  return html`
    <section aria-labelledby="tenants-title">
      <h1 id="tenants-title">Tenants</h1>
      <${ErrorNote} error=${error} />
      ${data &&
      html`
        <table>
          <thead>
            <tr><th scope="col">Name</th><th scope="col">Plan</th><th scope="col">Status</th>
              <th scope="col" class="num">Messages (30 days)</th><th scope="col" class="num">Sockets now</th></tr>
          </thead>
          <tbody>
            ${data.rows.map(
              (t) => html`
                <tr key=${t.id}>
                  <td><a href=${href('tenants', t.id)}>${t.name}</a></td>
                  <td>${t.plan}</td>
                  <td><span class=${`status ${t.status.toLowerCase()}`}>${t.status}</span></td>
                  <td class="num">${count(t.usage?.totals.messages)}</td>
                  <td class="num">${count(t.usage?.currentSockets)}</td>
                </tr>
              `,
            )}
          </tbody>
        </table>
        ${data.rows.length === 0 && html`<p class="empty">No tenants yet: createTenant makes one.</p>`}
        <div class="pager">
          <button type="button" class="quiet" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous</button>
          <button type="button" class="quiet" disabled=${!data.pageInfo.hasNextPage} onClick=${() => setCursors([...cursors, data.pageInfo.endCursor])}>Next</button>
        </div>
      `}
    </section>
  `;
}
