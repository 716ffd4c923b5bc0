// Pods, network namespaces and clients for the sandbox demo and the kernel tests (test/kernel/lib re-exports
// all of this). Like a CNI bridge plugin: a bridge in the current namespace (the "node") holds the pod gateway
// addresses, and each pod is a network namespace joined to it by a veth pair, with default routes through the
// bridge. Pods serve TCP, UDP and HTTP with ./pod-process.js, which answers with its pod name and the client
// address it saw.
//
//   const net = await createPodNetwork();                 // kipvs-br0 10.244.0.1/24, fd00:10:244::1/64
//   const pod = await net.addPod('web-1');                // 10.244.0.2, fd00:10:244::2
//   const odd = await net.addPod('db-0', { ipv4: '10.1.2.3' });   // any address: /32 + routes both ways
//   await pod.serve({ http: [8080], udp: [5353] });
//   const r = await httpGet('10.96.0.10', 80);            // from the node: r.pod === 'web-1'
//   const outside = await startClientAgent('client');     // many requests from another namespace, one process
//
// Everything is removed by net.destroy() (servers get SIGTERM and are waited for). Every namespace made here is
// remembered until destroyed (ownedNetns()), so a test's reset can remove what a failed test left.
// Process starts are slow in the user-mode Linux guest (0.1-0.5 s each, node about 1 s): a pod costs two `ip`
// processes and its server.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readlinkSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { createSocket } from 'node:dgram';
import { request as httpRequest } from 'node:http';
import { fileURLToPath } from 'node:url';
import { runTool, type RunOptions, type ToolResult } from '../kernel/exec.js';
import { canonicalIP, cidrContains, formatIP, ipFamilyOf, parseCIDR, parseIP } from '../model/ip.js';
import type { AgentRequest, AgentResponse, RawHttpResponse, Reply, RequestProto } from './pod-process.js';

export type { Reply, RawHttpResponse, RequestProto, ToolResult };

const POD_PROCESS = fileURLToPath(new URL('./pod-process.js', import.meta.url));
const NETNS_DIR = '/run/netns';

// ---------------------------------------------------------------- running tools

export interface CmdOptions extends RunOptions {
  /** Run inside this named network namespace (`ip netns exec <netns> ...`). */
  netns?: string;
}

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(readonly argv: readonly string[], readonly result: ToolResult) {
    super(`${argv.join(' ')}: exit ${result.exitCode}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ''}`);
  }
}

function argvOf(command: string, args: readonly string[], netns?: string): string[] {
  return netns ? ['ip', 'netns', 'exec', netns, command, ...args] : [command, ...args];
}

/** Runs a tool (argument list, never a shell string) and returns its result whatever the exit code. */
export async function tryCmd(command: string, args: readonly string[] = [], opts: CmdOptions = {}): Promise<ToolResult> {
  const argv = argvOf(command, args, opts.netns);
  return runTool(argv[0]!, argv.slice(1), opts);
}

/** Runs a tool and returns its stdout; throws CommandError (exit code and stderr) on a non-zero exit. */
export async function cmd(command: string, args: readonly string[] = [], opts: CmdOptions = {}): Promise<string> {
  const argv = argvOf(command, args, opts.netns);
  const r = await runTool(argv[0]!, argv.slice(1), opts);
  if (r.exitCode !== 0) throw new CommandError(argv, r);
  return r.stdout;
}

/** `ip [opts] -batch -` over the lines: one process instead of one per command; throws on the first failure. */
async function ipBatch(opts: string[], lines: string[]): Promise<void> {
  await cmd('ip', [...opts, '-batch', '-'], { stdin: lines.join('\n') + '\n' });
}

// ---------------------------------------------------------------- network namespaces

const owned = new Set<string>();

/** Namespaces created here and not destroyed yet (a test reset destroys what a failed test left). */
export function ownedNetns(): string[] {
  return [...owned];
}

export interface Netns {
  name: string;
  /** Runs a tool inside the namespace; returns stdout, throws on a non-zero exit. */
  cmd(command: string, args?: readonly string[], opts?: CmdOptions): Promise<string>;
  /** Same, returning the result whatever the exit code. */
  tryCmd(command: string, args?: readonly string[], opts?: CmdOptions): Promise<ToolResult>;
}

function handle(name: string): Netns {
  return {
    name,
    cmd: (command, args = [], opts = {}) => cmd(command, args, { ...opts, netns: name }),
    tryCmd: (command, args = [], opts = {}) => tryCmd(command, args, { ...opts, netns: name }),
  };
}

export function netnsExists(name: string): boolean {
  return existsSync(`${NETNS_DIR}/${name}`);
}

/** Creates a fresh namespace (lo up); an earlier one of the same name (a leftover) is destroyed first. */
export async function createNetns(name: string): Promise<Netns> {
  if (netnsExists(name)) await destroyNetns(name);
  // `ip -batch`: one process; `netns add` returns to the original namespace before the next line.
  owned.add(name);
  await ipBatch([], [`netns add ${name}`]);
  await cmd('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return handle(name);
}

/** Processes whose network namespace is the named one (/run/netns/<name>), found through /proc. */
export function pidsInNetns(name: string): number[] {
  let ino: number;
  try {
    ino = statSync(`${NETNS_DIR}/${name}`).ino;
  } catch {
    return [];
  }
  const want = `net:[${ino}]`;
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readlinkSync(`/proc/${d}/ns/net`) === want) out.push(Number(d));
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* gone */
  }
}

/** Kills every process in the namespace and deletes it; no error when it does not exist. */
export async function destroyNetns(name: string): Promise<void> {
  owned.delete(name);
  for (const pid of pidsInNetns(name)) killQuietly(pid);
  if (netnsExists(name)) await tryCmd('ip', ['netns', 'del', name]);
}

/** Runs fn with a fresh namespace named `name`, then destroys it (also when fn throws). */
export async function withNetns<T>(name: string, fn: (ns: Netns) => Promise<T>): Promise<T> {
  const ns = await createNetns(name);
  try {
    return await fn(ns);
  } finally {
    await destroyNetns(ns.name);
  }
}

// ---------------------------------------------------------------- pods

export interface PodNetworkOptions {
  /** Bridge in the current namespace (default kipvs-br0). */
  bridge?: string;
  /** Default 10.244.0.0/24; the bridge takes .1, pods .2 upwards. null: no IPv4. */
  ipv4Cidr?: string | null;
  /** Default fd00:10:244::/64; same numbering. null: no IPv6. */
  ipv6Cidr?: string | null;
  /** Pod namespaces are named `<prefix>-<pod>` (default "pod"). */
  netnsPrefix?: string;
}

export interface PodAddresses {
  /** This IPv4 address instead of the next free one of the CIDR (outside the CIDR: a /32 with routes). null: none. */
  ipv4?: string | null;
  ipv6?: string | null;
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
  /** Process ids of the pod's servers still running. */
  serverPids(): number[];
  /** One request from inside this pod (e.g. a pod reaching a service). */
  request(proto: RequestProto, host: string, port: number, data?: string): Promise<Reply>;
  /** Stops the servers (SIGTERM, SIGKILL after 5 s; waited for). */
  stopServers(): Promise<void>;
  /** Stops the servers, deletes the namespace and the node-side veth. */
  destroy(): Promise<void>;
}

export interface PodNetwork {
  bridge: string;
  gateway4?: string;
  gateway6?: string;
  addPod(name: string, addresses?: PodAddresses): Promise<Pod>;
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

/**
 * Hands out pod addresses: per CIDR the next host address (.2 upwards; .1 is the gateway) that is not taken yet.
 * Each CIDR has its own counter, so in a dual-stack network the n-th pod gets the same host number in both
 * families (10.244.0.2 and fd00:10:244::2); one shared counter would give it .2 and ::3.
 */
export class PodAddressPool {
  private readonly next = new Map<string, number>();
  private readonly used = new Set<string>();

  constructor(taken: Iterable<string> = []) {
    for (const a of taken) this.reserve(a);
  }

  /** The next free host address of the CIDR (marked taken). */
  take(cidr: string): string {
    let n = this.next.get(cidr) ?? 2;
    for (;;) {
      const a = nthAddress(cidr, n++);
      if (this.used.has(a)) continue;
      this.next.set(cidr, n);
      this.used.add(a);
      return a;
    }
  }

  /** An address given explicitly: take() never hands it out. */
  reserve(address: string): void {
    this.used.add(canonicalIP(address) ?? address);
  }
}

function prefixOf(cidr: string): number {
  return parseCIDR(cidr)!.prefix;
}

function inCidr(cidr: string | null, address: string): boolean {
  const c = cidr ? parseCIDR(cidr) : undefined;
  const ip = parseIP(address);
  return !!c && !!ip && cidrContains(c, ip);
}

/**
 * The `ip` lines that put one address on a pod's eth0 and make it reachable: `pod` (addresses, run before eth0
 * goes up), `podRoutes` (after), `node` (in the node's namespace). Inside the network's CIDR: the CIDR's prefix,
 * like any pod. Outside: a host route each way (the pod reaches the gateway on-link, the node reaches the pod
 * over the bridge), so endpoints of any address can be pods.
 */
export function podAddressLines(address: string, cidr: string | null, gateway: string | undefined, bridge: string): { pod: string[]; podRoutes: string[]; node: string[] } {
  const v6 = ipFamilyOf(address) === 6;
  const nodad = v6 ? ' nodad' : '';
  if (cidr && inCidr(cidr, address)) {
    return { pod: [`addr add ${address}/${prefixOf(cidr)} dev eth0${nodad}`], podRoutes: [], node: [] };
  }
  return {
    pod: [`addr add ${address}/${v6 ? 128 : 32} dev eth0${nodad}`],
    podRoutes: gateway ? [`route add ${gateway} dev eth0`] : [],
    node: [`route add ${address}/${v6 ? 128 : 32} dev ${bridge}`],
  };
}

export async function createPodNetwork(opts: PodNetworkOptions = {}): Promise<PodNetwork> {
  const bridge = opts.bridge ?? 'kipvs-br0';
  const v4 = opts.ipv4Cidr === undefined ? '10.244.0.0/24' : opts.ipv4Cidr;
  const v6 = opts.ipv6Cidr === undefined ? 'fd00:10:244::/64' : opts.ipv6Cidr;
  const gateway4 = v4 ? nthAddress(v4, 1) : undefined;
  const gateway6 = v6 ? nthAddress(v6, 1) : undefined;
  const prefix = opts.netnsPrefix ?? 'pod';
  await ipBatch([], [
    `link add ${bridge} type bridge`,
    ...(v4 ? [`addr add ${gateway4}/${prefixOf(v4)} dev ${bridge}`] : []),
    ...(v6 ? [`addr add ${gateway6}/${prefixOf(v6)} dev ${bridge} nodad`] : []),
    `link set ${bridge} up`,
  ]);
  const pods: Pod[] = [];
  const pool = new PodAddressPool([gateway4, gateway6].filter((a): a is string => !!a));
  let vethIndex = 2;

  const addPod = async (name: string, addresses: PodAddresses = {}): Promise<Pod> => {
    // Explicit addresses first, so that a free address handed out below cannot be one of them.
    for (const a of [addresses.ipv4, addresses.ipv6]) if (a) pool.reserve(a);
    const ipv4 = addresses.ipv4 === null ? undefined : addresses.ipv4 ?? (v4 ? pool.take(v4) : undefined);
    const ipv6 = addresses.ipv6 === null ? undefined : addresses.ipv6 ?? (v6 ? pool.take(v6) : undefined);
    const nsName = `${prefix}-${name}`;
    const hostVeth = `kv${vethIndex++}-${bridge}`.slice(0, 15);
    if (netnsExists(nsName)) await destroyNetns(nsName); // a leftover of an earlier failed run
    const none = { pod: [], podRoutes: [], node: [] };
    const a4 = ipv4 ? podAddressLines(ipv4, v4, gateway4, bridge) : none;
    const a6 = ipv6 ? podAddressLines(ipv6, v6, gateway6, bridge) : none;
    owned.add(nsName); // before it exists: a batch failing half-way still leaves it to clean up
    await ipBatch([], [
      `netns add ${nsName}`,
      `link add ${hostVeth} type veth peer name eth0 netns ${nsName}`,
      `link set ${hostVeth} master ${bridge} up`,
    ]);
    await ipBatch(['-n', nsName], [
      'link set lo up',
      ...a4.pod,
      ...a6.pod,
      'link set eth0 up',
      ...a4.podRoutes,
      ...a6.podRoutes,
      ...(ipv4 && gateway4 ? [`route add 0.0.0.0/0 via ${gateway4}`] : []),
      ...(ipv6 && gateway6 ? [`route add ::/0 via ${gateway6}`] : []),
    ]);
    if (a4.node.length || a6.node.length) await ipBatch([], [...a4.node, ...a6.node]);
    const ns = handle(nsName);
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
      serverPids: () => servers.filter((p) => p.exitCode === null && p.signalCode === null && p.pid).map((p) => p.pid!),
      request: async (proto, host, port, data) => requestFromNetns(ns.name, proto, host, port, data),
      stopServers: async () => {
        await Promise.all(servers.map((p) => stopProcess(p)));
      },
      destroy: async () => {
        await Promise.all(servers.map((p) => stopProcess(p)));
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
      // One `ip` process for the lot (a process start costs a lot in the guest). The veths are deleted first:
      // that is synchronous, while a deleted namespace takes its links with it only later.
      await Promise.all(pods.map((p) => p.stopServers()));
      const names = pods.map((p) => p.name).filter(netnsExists);
      for (const name of names) for (const pid of pidsInNetns(name)) killQuietly(pid);
      const lines = [...pods.map((p) => `link del ${p.hostVeth}`), ...names.map((n) => `netns del ${n}`), `link del ${bridge}`];
      await tryCmd('ip', ['-force', '-batch', '-'], { stdin: lines.join('\n') + '\n' });
      for (const p of pods) owned.delete(p.name);
    },
  };
}

/** SIGTERM, then SIGKILL after graceMs; resolves once the process has exited. */
export function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** Spawns a server and resolves when it prints READY; rejects with its output if it exits first. */
function startUntilReady(command: string, args: string[], what: string, timeoutMs = 30_000, stdin: 'ignore' | 'pipe' = 'ignore'): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [stdin, 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${what}: not ready within ${timeoutMs} ms: ${out}`));
    }, timeoutMs);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (out.includes('READY\n')) {
        clearTimeout(timer);
        child.stdout!.removeListener('data', onData);
        // Keep draining so a chatty server never blocks on a full pipe.
        child.stdout!.resume();
        child.stderr!.resume();
        resolve(child);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new Error(`${what}: ${e.message}`));
    });
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

/** One request from another namespace (a pod, or an "external client" made with withNetns): one process. */
export async function requestFromNetns(netns: string, proto: RequestProto, host: string, port: number,
  data = 'hello', timeoutMs = 5000): Promise<Reply> {
  const out = await cmd(process.execPath, [POD_PROCESS, 'client', '--proto', proto, '--host', host, '--port', String(port),
    '--data', data, '--timeout', String(timeoutMs)], { netns, timeoutMs: timeoutMs + 30_000 });
  return parseReply(out.trim(), `${proto} ${host}:${port} from ${netns}`);
}

// ---------------------------------------------------------------- a client agent in another namespace

export interface ClientAgent {
  netns: string;
  pid: number;
  /** One request from the agent's namespace; rejects with the client's error (refused, timeout...). */
  request(proto: RequestProto, host: string, port: number, data?: string, timeoutMs?: number): Promise<Reply>;
  /** An HTTP GET whose status, headers and body come back whatever the status (health checks answer 503). */
  httpRaw(host: string, port: number, path?: string, timeoutMs?: number): Promise<RawHttpResponse>;
  /** Closes its stdin (it exits) and waits for it. */
  stop(): Promise<void>;
}

/** Starts one long-lived client process in the namespace (see pod-process.ts `agent`). */
export async function startClientAgent(netns: string): Promise<ClientAgent> {
  const child = await startUntilReady('ip', ['netns', 'exec', netns, process.execPath, POD_PROCESS, 'agent'], `client agent in ${netns}`, 30_000, 'pipe');
  const pending = new Map<number, (r: AgentResponse) => void>();
  let nextId = 1;
  let buf = '';
  child.stdout!.on('data', (b: Buffer) => {
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let r: AgentResponse;
      try {
        r = JSON.parse(line) as AgentResponse;
      } catch {
        continue;
      }
      pending.get(r.id)?.(r);
      pending.delete(r.id);
    }
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(() => {
    for (const [id, settle] of pending) settle({ id, error: `client agent in ${netns} exited` });
    pending.clear();
  });
  const send = (req: Omit<AgentRequest, 'id'>): Promise<AgentResponse> =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve({ id: 0, error: `client agent in ${netns} is not running` });
      const id = nextId++;
      pending.set(id, resolve);
      child.stdin!.write(JSON.stringify({ ...req, id }) + '\n');
    });
  return {
    netns,
    pid: child.pid!,
    request: async (proto, host, port, data = 'hello', timeoutMs = 5000) => {
      const r = await send({ proto, host, port, data, timeoutMs });
      if (r.error || !r.reply) throw new Error(r.error ?? `${proto} ${host}:${port}: no reply`);
      return r.reply;
    },
    httpRaw: async (host, port, path = '/', timeoutMs = 5000) => {
      const r = await send({ proto: 'http', host, port, path, timeoutMs, raw: true });
      if (r.error || !r.raw) throw new Error(r.error ?? `http ${host}:${port}: no response`);
      return r.raw;
    },
    stop: async () => {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

// ---------------------------------------------------------------- clients in the current namespace

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
    req.on('error', (e) => reject(e.message.startsWith('http ') ? e : new Error(`http ${host}:${port}: ${e.message}`)));
    req.end();
  });
}
