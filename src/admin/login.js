// The login form: the token is tried against Parley before it is kept.
import { useState } from 'preact/hooks';
import { request } from './api.js';
import { html } from './ui.js';

export function Login({ onLogIn }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await request(token.trim(), 'DashboardWhoAmI');
      onLogIn(token.trim());
    } catch (err) {
      setError(err.code === 'NETWORK' ? err.message : 'That token was refused: it is not the operator token (ADMIN_TOKEN).');
    } finally {
      setBusy(false);
    }
  };
  return html`
    <main class="login">
      <form class="card" onSubmit=${submit} aria-labelledby="login-title">
        <h1 id="login-title">Parley admin</h1>
        <label for="token">Operator token</label>
        <input id="token" type="password" autocomplete="off" required value=${token} onInput=${(e) => setToken(e.currentTarget.value)} />
        <p class="hint">The server's ADMIN_TOKEN. It is kept in this tab only, until you log out or close it.</p>
        ${error && html`<p class="error" role="alert">${error}</p>`}
        <button type="submit" disabled=${busy || !token.trim()}>Log in</button>
      </form>
    </main>
  `;
}
