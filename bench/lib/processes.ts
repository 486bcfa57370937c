/**
 * Child processes of `npm run bench`: servers under test, worker processes, and what the
 * kernel says about them (CPU time and resident memory from /proc, so every target is
 * measured the same way, whatever it runs).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
    probe.on('error', reject);
  });

// ---------------------------------------------------------------------------------------------
// Cleanup: whatever happens, children are killed and scratch resources released.

const cleanups: (() => Promise<unknown>)[] = [];
export const children = new Set<ChildProcess>();

/** Registers `fn` to run at cleanup; returns a function that runs it now (once) instead. */
export function later(fn: () => Promise<unknown>): () => Promise<void> {
  cleanups.push(fn);
  return async () => {
    const i = cleanups.indexOf(fn);
    if (i === -1) return;
    cleanups.splice(i, 1);
    await fn().catch((err: unknown) => console.error('cleanup:', err));
  };
}

export async function cleanup() {
  while (cleanups.length) await cleanups.pop()!().catch((err: unknown) => console.error('cleanup:', err));
}

process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`\n${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}

// ---------------------------------------------------------------------------------------------
// Servers

export type ServerProcess = {
  pid: number;
  port: number;
  /** Warning, error and non-JSON lines the server printed so far. */
  warnings: () => number;
  tail: () => string;
  stop(): Promise<void>;
};

/**
 * Starts `node --import tsx <args>` on a free port and waits until `ready(port)` holds;
 * keeps the last lines of its output (for errors) and counts warnings, never the whole log.
 */
export async function startServer(args: string[], env: Record<string, string>, ready: (port: number) => Promise<boolean>): Promise<ServerProcess> {
  const port = await freePort();
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !['DATABASE_URL', 'DATA_DIR', 'REDIS_URL', 'ADMIN_TOKEN', 'SECRET_KEY', 'PORT', 'HOST', 'ROLE', 'NODE_OPTIONS'].includes(k)),
  );
  // BENCH_SERVER_NODE_ARGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") profiles the servers under test.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', ...args], {
    cwd: ROOT,
    env: { ...inherited, NODE_ENV: 'production', LOG_LEVEL: 'warn', PORT: String(port), HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let lines: string[] = [];
  let warnings = 0;
  const onData = (chunk: Buffer) => {
    const fresh = chunk.toString().split('\n').filter(Boolean);
    warnings += fresh.filter((l) => /"level":(40|50|60)/.test(l) || !(l.startsWith('{') || l.startsWith('listening'))).length;
    lines = [...lines, ...fresh.map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l))].slice(-10);
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) =>
    child.once('exit', () => {
      children.delete(child);
      resolve();
    }),
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${args.join(' ')} exited with ${child.exitCode ?? child.signalCode}:\n${lines.join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${args.join(' ')} not ready within 60 s:\n${lines.join('\n')}`);
    }
    if (await ready(port).catch(() => false)) break;
    await sleep(100);
  }
  return {
    pid: child.pid!,
    port,
    warnings: () => warnings,
    tail: () => lines.join('\n'),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// /proc

const TICKS_PER_SECOND = 100; // USER_HZ: 100 on every Linux the bench runs on (getconf CLK_TCK)

/** CPU time (user + system) a process has used, in ms; 0 when it is gone. */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces): state is field 3, utime 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
  } catch {
    return 0;
  }
}

/** Resident memory of a process, in bytes. */
export function rssBytes(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}
