// A tiny loopback HTTP client for the server tests (no keep-alive, so servers close promptly).
import { request } from 'node:http';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export function get(port: number, path: string, host = '127.0.0.1', method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the error code of a failed connection (e.g. ECONNREFUSED), or 'connected'. */
export function tryConnect(port: number, host = '127.0.0.1'): Promise<string> {
  return get(port, '/', host).then(
    () => 'connected',
    (e: NodeJS.ErrnoException) => e.code ?? 'error',
  );
}
