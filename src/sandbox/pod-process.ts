// The program that runs inside sandbox "pods" and clients (network namespaces), started by ./pods.ts:
//   node pod-process.js serve --name <pod> [--tcp 80,81] [--udp 53] [--http 8080]
//     Listens on every address (IPv4 and IPv6) and answers each request with one JSON line (a Reply):
//     who answered (pod name) and who it saw as the client — what a demo or a test needs to show load
//     balancing and source NAT. Prints "READY" once every port listens; exits on SIGTERM.
//   node pod-process.js client --proto tcp|udp|http --host <ip> --port <n> [--data <text>] [--timeout <ms>]
//     Sends one request from the namespace it runs in, prints the reply line, exits 0 (1 on error/timeout).
//   node pod-process.js agent
//     A long-lived client in another namespace: reads one JSON AgentRequest per stdin line, writes one JSON
//     AgentResponse per line (in completion order, matched by id). Starting a process costs about a second in
//     the user-mode Linux guest, so an outside client that sends many requests is one agent, not many clients.
// No imports beyond node: it starts inside the slow guest, once per pod.

import { createServer as createTcpServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { createInterface } from 'node:readline';

export interface Reply {
  pod: string;
  proto: 'tcp' | 'udp' | 'http';
  /** Server port that answered. */
  port: number;
  /** Client address as the pod saw it (IPv4-mapped IPv6 unwrapped). */
  client: string;
  clientPort: number;
  data: string;
}

export type RequestProto = 'tcp' | 'udp' | 'http';

/** One request for the agent. `raw: true` (http only) answers with status, headers and body instead of a Reply. */
export interface AgentRequest {
  id: number;
  proto: RequestProto;
  host: string;
  port: number;
  data?: string;
  /** HTTP path (default "/" + data). */
  path?: string;
  timeoutMs?: number;
  raw?: boolean;
}

export interface RawHttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface AgentResponse {
  id: number;
  reply?: Reply;
  raw?: RawHttpResponse;
  error?: string;
}

function unmap(a: string | undefined): string {
  return (a ?? '').replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/, '$1');
}

function ports(v: string | undefined): number[] {
  return (v ?? '').split(',').filter(Boolean).map(Number);
}

function args(argv: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) if (argv[i]!.startsWith('--')) m.set(argv[i]!.slice(2), argv[++i] ?? '');
  return m;
}

async function serve(a: Map<string, string>): Promise<void> {
  const pod = a.get('name') ?? 'pod';
  const listening: Promise<void>[] = [];
  const reply = (r: Reply) => JSON.stringify(r) + '\n';
  for (const port of ports(a.get('tcp'))) {
    const s = createTcpServer((sock) => {
      sock.on('data', (d) => sock.write(reply({ pod, proto: 'tcp', port, client: unmap(sock.remoteAddress), clientPort: sock.remotePort ?? 0, data: d.toString().trim() })));
      sock.on('error', () => {});
    });
    listening.push(new Promise((res, rej) => s.listen({ port, host: '::', ipv6Only: false }, res).on('error', rej)));
  }
  for (const port of ports(a.get('udp'))) {
    const s = createSocket({ type: 'udp6', ipv6Only: false });
    s.on('message', (msg, rinfo) => s.send(reply({ pod, proto: 'udp', port, client: unmap(rinfo.address), clientPort: rinfo.port, data: msg.toString().trim() }), rinfo.port, rinfo.address));
    listening.push(new Promise((res, rej) => { s.once('error', rej); s.bind({ port, address: '::' }, res); }));
  }
  for (const port of ports(a.get('http'))) {
    const s = createHttpServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.setHeader('connection', 'close');
      res.end(reply({ pod, proto: 'http', port, client: unmap(req.socket.remoteAddress), clientPort: req.socket.remotePort ?? 0, data: req.url ?? '' }));
    });
    listening.push(new Promise((res, rej) => s.listen({ port, host: '::', ipv6Only: false }, res).on('error', rej)));
  }
  await Promise.all(listening);
  // A pod stops when told to (the sandbox's cleanup), like a container getting SIGTERM.
  process.once('SIGTERM', () => process.exit(0));
  process.stdout.write('READY\n');
}

/** One request; resolves with the first reply line (or the whole HTTP response when raw). */
function request(r: Omit<AgentRequest, 'id'>): Promise<{ line?: string; raw?: RawHttpResponse }> {
  const { proto, host, port } = r;
  const data = r.data ?? 'hello';
  const timeoutMs = r.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    let cleanup = () => {};
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${proto} ${host}:${port}: no reply within ${timeoutMs} ms`));
    }, timeoutMs);
    const done = (v: { line?: string; raw?: RawHttpResponse }) => {
      clearTimeout(timer);
      resolve(v);
    };
    const fail = (e: Error) => {
      clearTimeout(timer);
      reject(new Error(`${proto} ${host}:${port}: ${e.message}`));
    };
    if (proto === 'udp') {
      const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      cleanup = () => s.close();
      s.on('message', (m) => { s.close(); done({ line: m.toString().split('\n')[0]! }); });
      s.on('error', (e) => { s.close(); fail(e); });
      s.send(data, port, host);
    } else if (proto === 'http') {
      const req = httpRequest({ host, port, path: r.path ?? `/${encodeURIComponent(data)}`, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => {
          if (!r.raw) return done({ line: body.split('\n')[0]! });
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
          done({ raw: { status: res.statusCode ?? 0, headers, body } });
        });
        res.on('error', fail);
      });
      cleanup = () => req.destroy();
      req.on('error', fail);
      req.end();
    } else {
      const sock = connect({ host, port });
      cleanup = () => sock.destroy();
      let buf = '';
      sock.on('connect', () => sock.write(data + '\n'));
      sock.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('\n')) { sock.destroy(); done({ line: buf.split('\n')[0]! }); }
      });
      sock.on('error', fail);
    }
  });
}

function client(a: Map<string, string>): Promise<string> {
  return request({
    proto: (a.get('proto') ?? 'tcp') as RequestProto,
    host: a.get('host') ?? '127.0.0.1',
    port: Number(a.get('port')),
    data: a.get('data') ?? 'hello',
    timeoutMs: Number(a.get('timeout') ?? 5000),
  }).then((r) => r.line ?? '');
}

function agent(): void {
  const write = (r: AgentResponse) => process.stdout.write(JSON.stringify(r) + '\n');
  const lines = createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    if (!line.trim()) return;
    let req: AgentRequest;
    try {
      req = JSON.parse(line) as AgentRequest;
    } catch {
      write({ id: -1, error: `agent: not JSON: ${line.slice(0, 100)}` });
      return;
    }
    request(req).then(
      (r) => {
        if (r.raw) return write({ id: req.id, raw: r.raw });
        try {
          write({ id: req.id, reply: JSON.parse(r.line ?? '') as Reply });
        } catch {
          write({ id: req.id, error: `${req.proto} ${req.host}:${req.port}: unexpected reply ${JSON.stringify(r.line)}` });
        }
      },
      (e: Error) => write({ id: req.id, error: e.message }),
    );
  });
  // The parent closing our stdin is the signal to go.
  lines.on('close', () => process.exit(0));
  process.stdout.write('READY\n');
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'serve') {
  serve(args(rest)).catch((e: Error) => { console.error(`pod-process: ${e.message}`); process.exit(1); });
} else if (mode === 'client') {
  client(args(rest)).then((line) => { process.stdout.write(line + '\n'); process.exit(0); },
    (e: Error) => { console.error(`pod-process: ${e.message}`); process.exit(1); });
} else if (mode === 'agent') {
  agent();
} else if (mode !== undefined) {
  console.error('usage: pod-process.js serve|client|agent ...');
  process.exit(2);
}
