/**
 * Starts Debian's `redis-server` for the tests and the benchmarks (quotas and DPoP proofs counted
 * in a real Redis); the gateway itself only ever connects to the one `REDIS_URL` names.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';

/**
 * A real `redis-server` (Debian's package) on a free loopback port, with no persistence: what the
 * quota and DPoP tests count in. Missing, it fails the test that asked, saying how to install it;
 * it never skips (README: running the tests without it).
 */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>`: the value of `REDIS_URL`. */
  readonly url: string;
  readonly port: number;
  /** The server's process id (the benchmarks charge its CPU apart). */
  readonly pid: number;
  /** Freezes the server (SIGSTOP): it accepts nothing and answers nothing, as a hung server. */
  pause(): void;
  /** Thaws it (SIGCONT). */
  resume(): void;
  /** Stops it (its port refuses connections). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
}

const BINARY = process.env.REDIS_SERVER ?? 'redis-server';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function launch(port: number): Promise<ChildProcess> {
  const child = spawn(
    BINARY,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let output = '';
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('Ready to accept connections')) {
        child.stdout.off('data', onData);
        child.stdout.resume();
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.once('error', (err) => reject(new Error(`cannot run ${BINARY}: ${err.message}`)));
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output.slice(-500)}`)));
  });
}

export async function startRedisServer(): Promise<RedisServer> {
  if (spawnSync(BINARY, ['--version']).error !== undefined) {
    throw new Error(
      "redis-server is not installed: these tests count quotas in a real Redis. Install Debian's package (`sudo apt-get install redis-server`; .ci/run does it) or set REDIS_SERVER to its path.",
    );
  }
  const port = await freePort();
  let child = await launch(port);
  const stopped = (c: ChildProcess) =>
    new Promise<void>((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) return resolve();
      c.once('exit', () => resolve());
      c.kill('SIGCONT');
      c.kill('SIGTERM');
    });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get pid() {
      return child.pid!;
    },
    pause: () => child.kill('SIGSTOP'),
    resume: () => child.kill('SIGCONT'),
    stop: () => stopped(child),
    async restart() {
      await stopped(child);
      child = await launch(port);
    },
  };
}
