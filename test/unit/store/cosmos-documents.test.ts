import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { systemClock } from '../../../src/clock';
import { CosmosDocuments } from '../../../src/store/cosmos-documents';

/**
 * A server that closes a kept-alive connection when the next request arrives on it, as a server
 * whose idle timeout fired as the client reused the connection does (what the audit writer met as
 * `UND_ERR_SOCKET other side closed` at full speed). `closeNth`: which request of a connection is
 * refused that way (0: never).
 */
async function closingServer(closeNth: (requestOfConnection: number) => boolean) {
  const perSocket = new WeakMap<Socket, number>();
  let answered = 0;
  let refused = 0;
  const server: Server = createServer((req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    req.resume();
    if (closeNth(n)) {
      refused++;
      req.socket.destroy();
      return;
    }
    answered++;
    res.writeHead(201, { 'content-length': '0' });
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}/`,
    counts: () => ({ answered, refused }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const key = Buffer.alloc(64, 3).toString('base64');
const writerFor = (endpoint: string) =>
  new CosmosDocuments({ endpoint, database: 'd', auth: { key }, clock: systemClock });

describe('CosmosDocuments.create on connections the server closes', () => {
  it('sends a create once more, at once, on a fresh connection when the kept-alive one was closed', async () => {
    const server = await closingServer((n) => n === 2);
    const documents = writerFor(server.endpoint);
    try {
      await expect(documents.create('audit', 'pk', '{"id":"a"}')).resolves.toBe(true);
      // The connection back in the pool, idle: the next create is written on it.
      await new Promise((resolve) => setTimeout(resolve, 20));
      await expect(documents.create('audit', 'pk', '{"id":"b"}')).resolves.toBe(true);
      expect(server.counts()).toEqual({ answered: 2, refused: 1 });
    } finally {
      await documents.close();
      await server.close();
    }
  });

  it('resends only once: a server that closes every connection fails the create with the socket error', async () => {
    const server = await closingServer(() => true);
    const documents = writerFor(server.endpoint);
    try {
      await expect(documents.create('audit', 'pk', '{"id":"a"}')).rejects.toMatchObject({
        code: 'UND_ERR_SOCKET',
      });
      expect(server.counts()).toEqual({ answered: 0, refused: 2 });
    } finally {
      await documents.close();
      await server.close();
    }
  });
});
