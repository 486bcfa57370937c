import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** deploy/nginx.conf: the load balancer of docker-compose.yml. */
export const NGINX_CONF = new URL('../../deploy/nginx.conf', import.meta.url);

/** A port nothing listens on (until someone does). */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });

/** Replaces `from` with `to`, insisting that `from` occurs exactly once (the config changed otherwise). */
function replaceOnce(text: string, from: string, to: string) {
  const count = text.split(from).length - 1;
  if (count !== 1) throw new Error(`deploy/nginx.conf: expected "${from}" once, found it ${count} times`);
  return text.replace(from, () => to);
}

/**
 * deploy/nginx.conf as it is, except for what only a compose network has: the API nodes
 * (`api1:4000`, `api2:4000`) become `upstreams`, nginx listens on `127.0.0.1:port` instead
 * of 80, and its temporary files go to `dir`.
 */
export function renderNginxConf(conf: string, { upstreams, port, dir }: { upstreams: [string, string]; port: number; dir: string }) {
  let out = replaceOnce(conf, 'server api1:4000 ', `server ${upstreams[0]} `);
  out = replaceOnce(out, 'server api2:4000 ', `server ${upstreams[1]} `);
  out = replaceOnce(out, 'listen 80;', `listen 127.0.0.1:${port};`);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((what) => `${what}_temp_path ${join(dir, what)};`).join(' ');
  return replaceOnce(out, 'http {', `http {\n    ${temp}`);
}

/** `output()`: what nginx wrote to stderr (errors), then its access log. */
export type Nginx = { url: string; output: () => string; stop(): Promise<void> };

/**
 * Runs the machine's nginx (installed by .ci/run) in the foreground with deploy/nginx.conf in
 * front of `upstreams` (host:port), on a free port; resolves once it listens.
 */
export async function startNginx(upstreams: [string, string]): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'parley-nginx-'));
  const port = await freePort();
  const conf = join(dir, 'nginx.conf');
  await writeFile(conf, renderNginxConf(await readFile(NGINX_CONF, 'utf8'), { upstreams, port, dir }));
  // As root, workers would otherwise run as nobody, who cannot enter the private temp dir.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  // The access log goes to /dev/stdout, which nginx opens by name: a file can be opened so,
  // the socket Node would give it as a pipe cannot (ENXIO).
  const accessLog = join(dir, 'access.log');
  const stdout = openSync(accessLog, 'a');
  const child = spawn('nginx', ['-e', 'stderr', '-p', dir, '-c', conf, '-g', `daemon off; pid ${join(dir, 'nginx.pid')}; ${user}`], {
    stdio: ['ignore', stdout, 'pipe'],
  });
  closeSync(stdout);
  let errors = '';
  child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const output = () => `${errors}${existsSync(accessLog) ? readFileSync(accessLog, 'utf8') : ''}`;
  let gone = false;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    // nginx is not installed (.ci/run installs it): no 'exit' follows.
    child.once('error', (err) => {
      errors += `\n${String(err)}`;
      resolve();
    });
  }).then(() => void (gone = true));

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (!gone) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exited;
    clearTimeout(timer);
    await rm(dir, { recursive: true, force: true });
  };
  // Ready once it accepts connections (not a request: that would reach, and judge, a node).
  for (let attempt = 0; ; attempt++) {
    if (gone) throw new Error(`nginx exited:\n${output()}`);
    const listening = await new Promise<boolean>((resolve) => {
      const probe = connect(port, '127.0.0.1', () => resolve(true));
      probe.once('error', () => resolve(false));
      probe.once('connect', () => probe.end());
    });
    if (listening) return { url, output, stop };
    if (attempt > 200) {
      await stop();
      throw new Error(`nginx did not listen on ${url}:\n${output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
