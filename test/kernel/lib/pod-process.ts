// The program that runs inside test "pods" (network namespaces), started by ./pods.ts:
//   node pod-process.js serve --name <pod> [--tcp 80,81] [--udp 53] [--http 8080] [--sctp 9]
//     Listens on every address (IPv4 and IPv6) and answers each request with one JSON line (a Reply):
//     who answered (pod name) and who it saw as the client — what a test needs to check load balancing and
//     source NAT. Prints "READY" once every port listens.
//   node pod-process.js client --proto tcp|udp|http --host <ip> --port <n> [--data <text>] [--timeout <ms>]
//     Sends one request from the namespace it runs in, prints the reply line, exits 0 (1 on error/timeout).
// No imports beyond node: it starts inside the slow guest, once per pod.

import { createServer as createTcpServer, connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';

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
  process.stdout.write('READY\n');
}

function client(a: Map<string, string>): Promise<string> {
  const proto = a.get('proto') ?? 'tcp';
  const host = a.get('host') ?? '127.0.0.1';
  const port = Number(a.get('port'));
  const data = a.get('data') ?? 'hello';
  const timeoutMs = Number(a.get('timeout') ?? 5000);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${proto} ${host}:${port}: no reply within ${timeoutMs} ms`)), timeoutMs);
    const done = (line: string) => {
      clearTimeout(timer);
      resolve(line.split('\n')[0]!);
    };
    const fail = (e: Error) => {
      clearTimeout(timer);
      reject(e);
    };
    if (proto === 'udp') {
      const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      s.on('message', (m) => { s.close(); done(m.toString()); });
      s.on('error', fail);
      s.send(data, port, host);
    } else if (proto === 'http') {
      const req = httpRequest({ host, port, path: `/${encodeURIComponent(data)}`, agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => done(body));
      });
      req.on('error', fail);
      req.end();
    } else {
      const sock = connect({ host, port });
      let buf = '';
      sock.on('connect', () => sock.write(data + '\n'));
      sock.on('data', (d) => {
        buf += d.toString();
        if (buf.includes('\n')) { sock.destroy(); done(buf); }
      });
      sock.on('error', fail);
    }
  });
}

const [mode, ...rest] = process.argv.slice(2);
if (mode === 'serve') {
  serve(args(rest)).catch((e: Error) => { console.error(`pod-process: ${e.message}`); process.exit(1); });
} else if (mode === 'client') {
  client(args(rest)).then((line) => { process.stdout.write(line + '\n'); process.exit(0); },
    (e: Error) => { console.error(`pod-process: ${e.message}`); process.exit(1); });
} else if (mode !== undefined) {
  console.error('usage: pod-process.js serve|client ...');
  process.exit(2);
}
