// Shared pieces of the admin page: the htm binding, polling, routing and formatting.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import htm from 'htm';

export const html = htm.bind(h);

/**
 * Runs `load` now and, `ms` after each answer, again while mounted (and anew when `deps`
 * change); keeps the last result. The next load is scheduled only once the previous one has
 * answered (a slow server is not stacked up with requests), and an answer of an older run
 * (deps changed meanwhile) is ignored.
 */
export function usePoll(load, ms, deps = []) {
  const [state, setState] = useState({ data: undefined, error: undefined });
  const latest = useRef(load);
  latest.current = load;
  const sequence = useRef(0);
  useEffect(() => {
    const run = ++sequence.current;
    const current = () => run === sequence.current;
    let timer;
    const poll = () =>
      latest
        .current()
        .then(
          (data) => current() && setState({ data, error: undefined }),
          (error) => current() && setState((s) => ({ data: s.data, error })),
        )
        .finally(() => {
          if (ms && current()) timer = setTimeout(poll, ms);
        });
    poll();
    return () => {
      sequence.current += 1; // this run's answers and timers are stale from now on
      clearTimeout(timer);
    };
  }, deps);
  return state;
}

/** The hash route split into parts: `#/tenants/ten_1` → ['tenants', 'ten_1']. */
export function useRoute() {
  const parse = () => {
    try {
      return location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      return []; // a malformed escape (#/tenants/%E0): an unknown route, not a blank page
    }
  };
  const [route, setRoute] = useState(parse);
  useEffect(() => {
    const onChange = () => setRoute(parse());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

export const href = (...parts) => `#/${parts.map(encodeURIComponent).join('/')}`;

const numbers = new Intl.NumberFormat('en');
export const count = (n) => (n === null || n === undefined ? '—' : numbers.format(n));
export const percent = (rate) => (rate === null || rate === undefined ? '—' : `${(rate * 100).toFixed(1)} %`);
export const when = (iso) => (iso ? new Date(iso).toLocaleString('en-GB', { timeZone: 'UTC', dateStyle: 'medium', timeStyle: 'short' }) + ' UTC' : '—');

export function ErrorNote({ error }) {
  return error ? html`<p class="error" role="alert">${error.message}</p>` : null;
}
