import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the downstream behaves right now. */
export type DownstreamMode = 'ok' | 'slow' | 'dead';

/**
 * The downstream of the load test's second resource: a loopback server whose behaviour the fault
 * schedule switches. `slow` answers after `slowMs` (past the resource's timeout: the gateway must
 * answer 504); `dead` closes the listening socket and every connection (502); `ok` listens again
 * on the same port, so the resource document never changes.
 */
export class SwitchableDownstream {
  private server: Server | undefined;
  private mode: DownstreamMode = 'ok';
  private readonly pending = new Set<NodeJS.Timeout>();
  /** Requests that reached the downstream, by the mode it was in. */
  readonly hits: Record<DownstreamMode, number> = { ok: 0, slow: 0, dead: 0 };

  private portNumber = 0;

  private constructor(private readonly slowMs: number) {}

  /** Starts on a free loopback port. */
  static async start(slowMs: number): Promise<SwitchableDownstream> {
    const downstream = new SwitchableDownstream(slowMs);
    downstream.portNumber = await downstream.listen(0);
    return downstream;
  }

  get port(): number {
    return this.portNumber;
  }

  /** `http://127.0.0.1:<port>/api`: the resource's upstream. */
  get upstream(): string {
    return `http://127.0.0.1:${this.port}/api`;
  }

  get current(): DownstreamMode {
    return this.mode;
  }

  async setMode(mode: DownstreamMode): Promise<void> {
    if (mode === this.mode) return;
    if (mode === 'dead') {
      this.mode = mode;
      await this.stop();
    } else {
      if (this.mode === 'dead') await this.listen(this.port);
      this.mode = mode;
    }
  }

  /** Waits for answers the slow mode still holds (each is bounded by `slowMs`). */
  async settle(): Promise<void> {
    const deadline = Date.now() + this.slowMs + 1000;
    while (this.pending.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  }

  async close(): Promise<void> {
    for (const timer of this.pending) clearTimeout(timer);
    this.pending.clear();
    await this.stop();
  }

  private async listen(port: number): Promise<number> {
    const server = createServer((req, res) => {
      this.hits[this.mode]++;
      req.resume();
      const body = JSON.stringify({ service: 'loadtest-slow', path: req.url });
      const answer = () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(body);
      };
      if (this.mode !== 'slow') return answer();
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        answer();
      }, this.slowMs);
      this.pending.add(timer);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return (server.address() as AddressInfo).port;
  }

  private async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }
}
