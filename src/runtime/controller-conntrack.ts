// UDP conntrack cleanup after a sync (reference §5.3, kube-proxy pkg/proxy/conntrack/cleanup.go).
//
// UDP has no connection end, so a conntrack entry made for a client's flow keeps steering that flow to the
// real server it was first given (IPVS conntrack=1 keeps the entry's reply tuple = that real server) long after
// the endpoint went away, and a flow that started while the Service had no endpoints stays black-holed. kube-proxy
// deletes, after a sync that changed a UDP Service or its endpoints:
//   - for every UDP service port with at least one endpoint: entries whose original destination is the service
//     address:port and whose reply source is not one of its endpoints (stale endpoint, or never NATed);
//   - (older kube-proxy, still useful) entries to a service address:port that is no longer served.
// Here the unit is the IPVS virtual server: its real servers are exactly where this node sends the flows, so
// "reply source not among the real servers" is the precise test for this node (NodePort virtual servers exist
// per node IP, so matching address:port covers kube-proxy's "destination port = node port" rule).
//
// The kernel is read and written with the `conntrack` tool (argument lists, never a shell): one
// `conntrack -L -p udp -f ipv4|ipv6` per family that has work, then one `conntrack -D` per (virtual server,
// stale reply source), which removes every flow of that pair at once.

import { canonicalIP, ipFamilyOf, joinHostPort } from '../model/ip.js';
import { virtualServerKey, type VirtualServer } from '../model/state.js';
import { runTool, type RunOptions, type ToolResult } from '../kernel/exec.js';
import { silentLogger, type Logger } from '../util/log.js';

export type ToolRunner = (command: string, args: readonly string[], opts?: RunOptions) => Promise<ToolResult>;

/** One UDP flow as `conntrack -L` prints it: the original tuple and the reply tuple. */
export interface ConntrackFlow {
  family: 4 | 6;
  origSrc: string;
  origDst: string;
  origSport: number;
  origDport: number;
  replySrc: string;
  replySport: number;
}

/** What to clean for one virtual server. */
export interface UdpCleanupTarget {
  address: string;
  port: number;
  /** "ip:port" (joinHostPort) of the real servers now; undefined = the virtual server is gone (delete every flow to it). */
  realServers?: ReadonlySet<string>;
}

/** One `conntrack -D` call: flows to address:port answered from replySrc:replySport. */
export interface ConntrackDeletion {
  family: 4 | 6;
  origDst: string;
  origDport: number;
  replySrc: string;
  replySport: number;
}

/** Parses `conntrack -L -p udp` output (one flow per line; tuples as key=value, original first). */
export function parseConntrackList(text: string): ConntrackFlow[] {
  const out: ConntrackFlow[] = [];
  for (const line of text.split('\n')) {
    if (!/\budp\b/.test(line)) continue;
    const src: string[] = [];
    const dst: string[] = [];
    const sport: number[] = [];
    const dport: number[] = [];
    for (const m of line.matchAll(/\b(src|dst|sport|dport)=(\S+)/g)) {
      const [, key, value] = m;
      if (key === 'src') src.push(value!);
      else if (key === 'dst') dst.push(value!);
      else if (key === 'sport') sport.push(Number(value));
      else dport.push(Number(value));
    }
    if (src.length < 2 || dst.length < 1 || sport.length < 2 || dport.length < 1) continue;
    const origSrc = canonicalIP(src[0]);
    const origDst = canonicalIP(dst[0]);
    const replySrc = canonicalIP(src[1]);
    if (!origSrc || !origDst || !replySrc) continue;
    const family = ipFamilyOf(origDst);
    if (!family) continue;
    out.push({ family, origSrc, origDst, origSport: sport[0]!, origDport: dport[0]!, replySrc, replySport: sport[1]! });
  }
  return out;
}

/** The deletions that remove every stale flow of the targets (pure); `staleFlows` counts the flows they cover. */
export function staleDeletions(flows: readonly ConntrackFlow[], targets: readonly UdpCleanupTarget[]): { deletions: ConntrackDeletion[]; staleFlows: number; byFamily: { 4: number; 6: number } } {
  const byVip = new Map<string, UdpCleanupTarget>();
  for (const t of targets) {
    const a = canonicalIP(t.address);
    if (a) byVip.set(joinHostPort(a, t.port), t);
  }
  const seen = new Set<string>();
  const out: ConntrackDeletion[] = [];
  let staleFlows = 0;
  const byFamily = { 4: 0, 6: 0 };
  for (const f of flows) {
    const t = byVip.get(joinHostPort(f.origDst, f.origDport));
    if (!t) continue;
    const reply = joinHostPort(f.replySrc, f.replySport);
    if (t.realServers) {
      // kube-proxy skips service ports without endpoints: nothing better to send the flow to.
      if (t.realServers.size === 0 || t.realServers.has(reply)) continue;
    }
    staleFlows++;
    byFamily[f.family]++;
    const key = `${joinHostPort(f.origDst, f.origDport)} ${reply}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ family: f.family, origDst: f.origDst, origDport: f.origDport, replySrc: f.replySrc, replySport: f.replySport });
  }
  return { deletions: out, staleFlows, byFamily };
}

/**
 * The cleanup targets of a sync: every UDP virtual server the changed Services have now (with its real servers),
 * and every UDP virtual server that went away (`removed`, when no longer desired at all).
 */
export function udpCleanupTargets(current: readonly VirtualServer[], removed: readonly VirtualServer[]): UdpCleanupTarget[] {
  const out: UdpCleanupTarget[] = [];
  const live = new Set<string>();
  for (const vs of current) {
    if (vs.protocol !== 'UDP') continue;
    live.add(joinHostPort(vs.address, vs.port));
    out.push({ address: vs.address, port: vs.port, realServers: new Set(vs.realServers.map((rs) => joinHostPort(rs.address, rs.port))) });
  }
  for (const vs of removed) {
    if (vs.protocol !== 'UDP' || live.has(joinHostPort(vs.address, vs.port))) continue;
    out.push({ address: vs.address, port: vs.port });
  }
  return out;
}

/**
 * The UDP virtual servers whose conntrack entries are to be checked after the next successful sync, recorded from
 * the desired-state builder's deltas. Entries outlive a failed sync (its retry cleans them), so each key keeps
 * its latest state: current (with its real servers) or gone.
 */
export class PendingUdpCleanups {
  private readonly byKey = new Map<string, { vs: VirtualServer; gone: boolean }>();

  get size(): number {
    return this.byKey.size;
  }

  /**
   * Records one delta. A key removed now is gone even if an earlier (failed) sync recorded it as current; within
   * one delta a key both removed and added/updated (moved from one Service to another) stays current.
   */
  record(delta: { added: readonly VirtualServer[]; updated: readonly VirtualServer[]; removed: readonly VirtualServer[] }): void {
    const current = new Set<string>();
    for (const vs of [...delta.added, ...delta.updated]) {
      if (vs.protocol !== 'UDP') continue;
      const key = virtualServerKey(vs);
      current.add(key);
      this.byKey.set(key, { vs, gone: false });
    }
    for (const vs of delta.removed) {
      const key = virtualServerKey(vs);
      if (vs.protocol === 'UDP' && !current.has(key)) this.byKey.set(key, { vs, gone: true });
    }
  }

  /** The cleanup targets of everything recorded; forgets it all. */
  take(): UdpCleanupTarget[] {
    const current: VirtualServer[] = [];
    const removed: VirtualServer[] = [];
    for (const { vs, gone } of this.byKey.values()) (gone ? removed : current).push(vs);
    this.byKey.clear();
    return udpCleanupTargets(current, removed);
  }

  clear(): void {
    this.byKey.clear();
  }
}

/** "N flow entries have been deleted." as conntrack -D reports it; `fallback` when the tool said nothing readable. */
export function deletedFlowCount(stderr: string, fallback: () => number): number {
  const m = /(\d+) flow entr(?:y|ies) ha(?:s|ve) been deleted/.exec(stderr);
  return m ? Number(m[1]) : fallback();
}

function coveredFlows(flows: readonly ConntrackFlow[], d: ConntrackDeletion): number {
  return flows.filter((f) => f.family === d.family && f.origDst === d.origDst && f.origDport === d.origDport && f.replySrc === d.replySrc && f.replySport === d.replySport).length;
}

export interface ConntrackCleanupResult {
  /** conntrack -D calls that removed at least one flow. */
  deleted: number;
  /** Flows found stale (before deletion). */
  staleFlows: number;
  staleFlowsByFamily: { 4: number; 6: number };
  /** Flows the kernel actually deleted (conntrack -D's own count; kube-proxy's deleted-entries metric). */
  deletedFlowsByFamily: { 4: number; 6: number };
  /** Families that were looked at. */
  families: (4 | 6)[];
  errors: string[];
}

export interface ConntrackCleanerOptions {
  run?: ToolRunner;
  log?: Logger;
  /** The tool (default "conntrack"). */
  command?: string;
}

export class ConntrackCleaner {
  private readonly run: ToolRunner;
  private readonly log: Logger;
  private readonly command: string;
  private missingTool = false;

  constructor(options: ConntrackCleanerOptions = {}) {
    this.run = options.run ?? runTool;
    this.log = options.log ?? silentLogger;
    this.command = options.command ?? 'conntrack';
  }

  /** Deletes the stale UDP flows of the targets. Never throws: problems are returned (and logged once per sync). */
  async clean(targets: readonly UdpCleanupTarget[]): Promise<ConntrackCleanupResult> {
    const result: ConntrackCleanupResult = { deleted: 0, staleFlows: 0, staleFlowsByFamily: { 4: 0, 6: 0 }, deletedFlowsByFamily: { 4: 0, 6: 0 }, families: [], errors: [] };
    if (targets.length === 0 || this.missingTool) return result;
    const families = new Set<4 | 6>();
    for (const t of targets) {
      const f = ipFamilyOf(t.address);
      if (f) families.add(f);
    }
    const flows: ConntrackFlow[] = [];
    result.families = [...families].sort();
    for (const family of result.families) {
      let r: ToolResult;
      try {
        r = await this.run(this.command, ['-L', '-p', 'udp', '-f', family === 4 ? 'ipv4' : 'ipv6']);
      } catch (e) {
        // Not installed: kube-proxy needs it too (or netlink); say so once and stop trying.
        this.missingTool = true;
        const msg = `conntrack tool not available: ${(e as Error).message}`;
        this.log.error(msg);
        result.errors.push(msg);
        return result;
      }
      if (r.exitCode !== 0) {
        result.errors.push(`conntrack -L: exit ${r.exitCode}: ${r.stderr.trim()}`);
        continue;
      }
      flows.push(...parseConntrackList(r.stdout));
    }
    const { deletions, staleFlows, byFamily } = staleDeletions(flows, targets);
    result.staleFlows = staleFlows;
    result.staleFlowsByFamily = byFamily;
    for (const d of deletions) {
      const args = ['-D', '-p', 'udp', '-f', d.family === 4 ? 'ipv4' : 'ipv6', '--orig-dst', d.origDst, '--dport', String(d.origDport),
        '--reply-src', d.replySrc, '--reply-port-src', String(d.replySport)];
      try {
        const r = await this.run(this.command, args);
        // Exit 1 with "0 flow entries" = already gone (the flow ended meanwhile): not an error.
        if (r.exitCode === 0) {
          result.deleted++;
          result.deletedFlowsByFamily[d.family] += deletedFlowCount(r.stderr, () => coveredFlows(flows, d));
        } else if (!/\b0 flow entries\b/.test(r.stderr)) result.errors.push(`conntrack ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr.trim()}`);
      } catch (e) {
        result.errors.push(`conntrack ${args.join(' ')}: ${(e as Error).message}`);
      }
    }
    if (deletions.length > 0) {
      this.log.debug({ deletions: deletions.length, flows: result.staleFlows }, 'Deleted stale UDP conntrack entries');
    }
    if (result.errors.length > 0) this.log.warn({ errors: result.errors }, 'Failed to delete stale UDP conntrack entries');
    return result;
  }
}
