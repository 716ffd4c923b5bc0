// Test "pods" for end-to-end kernel tests: like a CNI bridge plugin, a bridge in the test's namespace (the
// "node") holds the pod gateway addresses, and each pod is a network namespace joined to it by a veth pair,
// with an IPv4 and an IPv6 address and default routes through the bridge. Pods serve TCP, UDP and HTTP with
// ./pod-process.js, which answers with its pod name and the client address it saw.
//
//   const net = await createPodNetwork();                 // kt-br0 10.244.0.1/24, fd00:10:244::1/64
//   const pod = await net.addPod('web-1');                // 10.244.0.2, fd00:10:244::2
//   await pod.serve({ tcp: [8080], udp: [5353] });
//   const r = await tcpRequest('10.96.0.10', 80);          // from the node: r.pod === 'web-1'
//
// Everything is removed by net.destroy() or by resetNetns() (pod namespaces are owned by ./netns.ts).

import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { formatIP, parseCIDR } from '../../../src/model/ip.js';
import { cmd, tryCmd } from './exec.js';
import { createNetns, destroyNetns, netnsPrefix, type Netns } from './netns.js';
import type { Reply } from './pod-process.js';

export type { Reply };

const POD_PROCESS = fileURLToPath(new URL('./pod-process.js', import.meta.url));

export interface PodNetworkOptions {
  /** Bridge in the current namespace (default kt-br0). */
  bridge?: string;
  /** Default 10.244.0.0/24; the bridge takes .1, pods .2 upwards. null: no IPv4. */
  ipv4Cidr?: string | null;
  /** Default fd00:10:244::/64; same numbering. null: no IPv6. */
  ipv6Cidr?: string | null;
}

export interface ServeOptions {
  tcp?: number[];
  udp?: number[];
  http?: number[];
}

export interface Pod extends Netns {
  /** Pod name (what the servers answer with). */
  pod: string;
  ipv4?: string;
  ipv6?: string;
  /** Node-side veth name. */
  hostVeth: string;
  /** Starts the pod's servers; resolves once they listen. */
  serve(opts: ServeOptions): Promise<void>;
  /** One request from inside this pod (e.g. a pod reaching a service). */
  request(proto: 'tcp' | 'udp' | 'http', host: string, port: number, data?: string): Promise<Reply>;
  destroy(): Promise<void>;
}

export interface PodNetwork {
  bridge: string;
  gateway4?: string;
  gateway6?: string;
  addPod(name: string): Promise<Pod>;
  pods: Pod[];
  destroy(): Promise<void>;
}

/** The n-th host address of a CIDR (n = 1 is the gateway). */
export function nthAddress(cidr: string, n: number): string {
  const c = parseCIDR(cidr);
  if (!c) throw new Error(`bad CIDR ${cidr}`);
  const bytes = c.bytes.slice();
  let carry = n;
  for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
    const v = bytes[i]! + carry;
    bytes[i] = v & 0xff;
    carry = v >> 8;
  }
  return formatIP(bytes);
}

/** Runs `ip [opts] -batch -` over the given lines; throws with ip's message on the first failing line. */
async function ipBatch(opts: string[], lines: string[]): Promise<void> {
  await cmd('ip', [...opts, '-batch', '-'], { stdin: lines.join('\n') + '\n' });
}

function prefixOf(cidr: string): number {
  return parseCIDR(cidr)!.prefix;
}

export async function createPodNetwork(opts: PodNetworkOptions = {}): Promise<PodNetwork> {
  const bridge = opts.bridge ?? 'kt-br0';
  const v4 = opts.ipv4Cidr === undefined ? '10.244.0.0/24' : opts.ipv4Cidr;
  const v6 = opts.ipv6Cidr === undefined ? 'fd00:10:244::/64' : opts.ipv6Cidr;
  const gateway4 = v4 ? nthAddress(v4, 1) : undefined;
  const gateway6 = v6 ? nthAddress(v6, 1) : undefined;
  await ipBatch([], [
    `link add ${bridge} type bridge`,
    ...(v4 ? [`addr add ${gateway4}/${prefixOf(v4)} dev ${bridge}`] : []),
    ...(v6 ? [`addr add ${gateway6}/${prefixOf(v6)} dev ${bridge} nodad`] : []),
    `link set ${bridge} up`,
  ]);
  const pods: Pod[] = [];
  const prefix = netnsPrefix();
  let next = 2;

  const addPod = async (name: string): Promise<Pod> => {
    const n = next++;
    const ns = await createNetns(`${prefix}-${name}`);
    const hostVeth = `kv${n}-${bridge}`.slice(0, 15);
    const ipv4 = v4 ? nthAddress(v4, n) : undefined;
    const ipv6 = v6 ? nthAddress(v6, n) : undefined;
    // `ip -batch`: one process per namespace instead of one per command (process starts are slow in the guest).
    await ipBatch([], [
      `link add ${hostVeth} type veth peer name eth0 netns ${ns.name}`,
      `link set ${hostVeth} master ${bridge} up`,
    ]);
    await ipBatch(['-n', ns.name], [
      ...(ipv4 ? [`addr add ${ipv4}/${prefixOf(v4!)} dev eth0`] : []),
      ...(ipv6 ? [`addr add ${ipv6}/${prefixOf(v6!)} dev eth0 nodad`] : []),
      'link set eth0 up',
      ...(gateway4 ? [`route add 0.0.0.0/0 via ${gateway4}`] : []),
      ...(gateway6 ? [`route add ::/0 via ${gateway6}`] : []),
    ]);
    const servers: ChildProcess[] = [];
    const pod: Pod = {
      ...ns,
      pod: name,
      ipv4,
      ipv6,
      hostVeth,
      serve: async (s) => {
        const argv = ['netns', 'exec', ns.name, process.execPath, POD_PROCESS, 'serve', '--name', name];
        if (s.tcp?.length) argv.push('--tcp', s.tcp.join(','));
        if (s.udp?.length) argv.push('--udp', s.udp.join(','));
        if (s.http?.length) argv.push('--http', s.http.join(','));
        servers.push(await startUntilReady('ip', argv, `pod ${name}`));
      },
      request: async (proto, host, port, data) => requestFromNetns(ns.name, proto, host, port, data),
      destroy: async () => {
        for (const p of servers) p.kill('SIGKILL');
        await destroyNetns(ns.name);
        await tryCmd('ip', ['link', 'del', hostVeth]);
      },
    };
    pods.push(pod);
    return pod;
  };

  return {
    bridge,
    gateway4,
    gateway6,
    pods,
    addPod,
    destroy: async () => {
      for (const p of pods) await p.destroy();
      await tryCmd('ip', ['link', 'del', bridge]);
    },
  };
}

/** Spawns a server and resolves when it prints READY; rejects with its output if it exits first. */
function startUntilReady(command: string, args: string[], what: string, timeoutMs = 30_000): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what}: not ready within ${timeoutMs} ms: ${out}`));
    }, timeoutMs);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes('READY\n')) {
        clearTimeout(timer);
        child.stdout.removeAllListeners('data');
        // Keep draining so a chatty server never blocks on a full pipe.
        child.stdout.resume();
        child.stderr.resume();
        resolve(child);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what}: exited with ${code} before it was ready: ${out.trim()}`));
    });
    // After READY the exit listener's reject is a no-op: a promise settles once.
  });
}

function parseReply(line: string, what: string): Reply {
  try {
    return JSON.parse(line) as Reply;
  } catch {
    throw new Error(`${what}: unexpected reply ${JSON.stringify(line)}`);
  }
}

/** One request from another namespace (a pod, or an "external client" made with withNetns). */
export async function requestFromNetns(netns: string, proto: 'tcp' | 'udp' | 'http', host: string, port: number,
  data = 'hello', timeoutMs = 5000): Promise<Reply> {
  const out = await cmd(process.execPath, [POD_PROCESS, 'client', '--proto', proto, '--host', host, '--port', String(port),
    '--data', data, '--timeout', String(timeoutMs)], { netns, timeoutMs: timeoutMs + 30_000 });
  return parseReply(out.trim(), `${proto} ${host}:${port} from ${netns}`);
}

// ---------------------------------------------------------------- clients in the test's own namespace

/** Connects, sends one line, resolves with the server's reply line (rejects on error or timeout). */
export function tcpRequest(host: string, port: number, data = 'hello', timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host, port });
    let buf = '';
    const timer = setTimeout(() => { sock.destroy(); reject(new Error(`tcp ${host}:${port}: no reply within ${timeoutMs} ms`)); }, timeoutMs);
    sock.on('connect', () => sock.write(data + '\n'));
    sock.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl === -1) return;
      clearTimeout(timer);
      sock.destroy();
      try {
        resolve(parseReply(buf.slice(0, nl), `tcp ${host}:${port}`));
      } catch (e) {
        reject(e);
      }
    });
    sock.on('error', (e) => { clearTimeout(timer); reject(new Error(`tcp ${host}:${port}: ${e.message}`)); });
  });
}

export function udpRequest(host: string, port: number, data = 'hello', timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setTimeout(() => { s.close(); reject(new Error(`udp ${host}:${port}: no reply within ${timeoutMs} ms`)); }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      try {
        resolve(parseReply(m.toString().split('\n')[0]!, `udp ${host}:${port}`));
      } catch (e) {
        reject(e);
      }
    });
    s.on('error', (e) => { clearTimeout(timer); s.close(); reject(new Error(`udp ${host}:${port}: ${e.message}`)); });
    s.send(data, port, host);
  });
}

export function httpGet(host: string, port: number, path = '/', timeoutMs = 5000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        try {
          resolve(parseReply(body.split('\n')[0]!, `http ${host}:${port}`));
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error(`http ${host}:${port}: no reply within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}
