import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const PARLEY_VARIABLES = new Set(['DATABASE_URL', 'DATA_DIR', 'REDIS_URL', 'ADMIN_TOKEN', 'SECRET_KEY', 'PORT', 'HOST', 'NODE_ENV']);

export type ParleyProcess = { child: ChildProcess; url: string; output: () => string; stop(signal?: NodeJS.Signals): Promise<number | null> };

/** Runs `src/main.ts` as its own process, exactly as `npm start` does, and waits until it listens. */
export function startProcess(env: Record<string, string>, { timeoutMs = 30_000, args = [] as string[] } = {}): Promise<ParleyProcess> {
  // Parley's own variables come only from `env`: the test runner's DATABASE_URL (set for the
  // PostgreSQL project) must not turn an embedded-store process into a PostgreSQL one.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !PARLEY_VARIABLES.has(name)));
  // `node --import tsx`, not the tsx CLI: the CLI runs the server in a child of its own, and a
  // signal (SIGKILL above all) would reach the wrapper, not the server.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], {
    cwd: ROOT,
    // No drain before a SIGTERM stop (readiness.test.ts sets one to test it).
    env: { ...inherited, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', SHUTDOWN_DRAIN_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const stop = async (signal: NodeJS.Signals = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    return exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop('SIGKILL');
      reject(new Error(`Parley did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on port (\d+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: `http://127.0.0.1:${match[1]}`, output: () => output, stop });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`Parley exited with ${code}:\n${output}`), { code, output }));
    });
  });
}
