import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Pool } from 'undici';
import { fire, type LoadJob } from '../../../bench/load';

/** What a server saw: one `x-call` header and body per request, in arrival order. */
async function recordingServer(): Promise<{
  server: Server;
  url: string;
  seen: { header: string; body: string }[];
}> {
  const seen: { header: string; body: string }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (body += chunk));
    req.on('end', () => {
      seen.push({ header: String(req.headers['x-call'] ?? ''), body });
      res.end('ok');
    });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('the load generator', () => {
  it.each([
    ['closed loop', undefined],
    ['open loop', 2_000],
  ])('%s: a warm-up and its counted run send each header set and body once', async (_name, rate) => {
    const { server, url, seen } = await recordingServer();
    const pool = new Pool(url, { connections: 2 });
    try {
      const job: LoadJob = {
        origin: url,
        path: '/',
        method: 'POST',
        headerSets: Array.from({ length: 10 }, (_, i) => ({ 'x-call': `h${i}` })),
        bodies: Array.from({ length: 10 }, (_, i) => `b${i}`),
        warmup: 4,
        requests: 6,
        connections: 2,
        ...(rate === undefined ? {} : { ratePerSecond: rate }),
      };
      const warm = await fire(pool, job, job.warmup, 0);
      const counted = await fire(pool, job, job.requests, job.warmup);
      expect([warm.errors, counted.errors]).toEqual([0, 0]);
      // Fresh tokens and single-use proofs: no call of the run repeats an earlier one's.
      expect(seen.map((s) => s.header).sort()).toEqual(job.headerSets!.map((h) => h['x-call']).sort());
      expect(seen.map((s) => s.body).sort()).toEqual([...job.bodies!].sort());
      // Header set and body of one call travel together.
      for (const call of seen) expect(call.body.slice(1)).toBe(call.header.slice(1));
    } finally {
      await pool.close();
      await new Promise<void>((done) => server.close(() => done()));
    }
  });
});
