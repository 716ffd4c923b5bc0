// How the sandbox demo talks to the user, as pure functions (host-tested):
//   - the console protocol: inside the guest the demo writes its lines to the console, which kernel messages share,
//     so each line carries a marker the host picks out (STEP lines get a timestamp, BLOCK lines print as they are);
//   - the tables: answers per target, the scale-down/up phases, the IPVS rows of `kube-ipvs dump --output text`.

import type { ApiEndpointSlice, ApiService } from '../model/api.js';
import { canonicalIP, joinHostPort } from '../model/ip.js';
import { slicesOf, type HealthCheckTarget, type TargetResult } from './demo-plan.js';

export const STEP_MARK = 'KIPVS-DEMO> ';
export const BLOCK_MARK = 'KIPVS-DEMO| ';

export type ConsoleItem = { kind: 'step' | 'block'; text: string };

/** A demo line picked out of the guest console (undefined: a kernel message or other noise). */
export function parseConsoleLine(line: string): ConsoleItem | undefined {
  // A kernel message can land in front of ours on the same console line: look for the mark anywhere.
  const s = line.indexOf(STEP_MARK);
  const b = line.indexOf(BLOCK_MARK);
  if (s >= 0 && (b < 0 || s < b)) return { kind: 'step', text: line.slice(s + STEP_MARK.length) };
  if (b >= 0) return { kind: 'block', text: line.slice(b + BLOCK_MARK.length) };
  return undefined;
}

export function stepLine(text: string): string {
  return STEP_MARK + text;
}

export function blockLines(lines: readonly string[]): string[] {
  return lines.map((l) => BLOCK_MARK + l);
}

/** "[ 12.3s] text": a step as the host prints it. */
export function timestamped(elapsedMs: number, text: string): string {
  return `[${(elapsedMs / 1000).toFixed(1).padStart(5)}s] ${text}`;
}

/** A demo result as JSON (result.json): Maps (answers per pod) become plain objects. */
export function resultJson(result: unknown): string {
  return JSON.stringify(result, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v), 2) + '\n';
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Left-aligned columns (numbers right-aligned), two spaces apart. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], rightAligned: ReadonlySet<number> = new Set()): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

/** What the API server holds, one row per Service: what kube-ipvs is about to program. */
export function formatServicesTable(services: readonly ApiService[], slices: readonly ApiEndpointSlice[], nodeName: string): string[] {
  const rows = [...services]
    .sort((a, b) => `${a.metadata?.namespace}/${a.metadata?.name}`.localeCompare(`${b.metadata?.namespace}/${b.metadata?.name}`))
    .map((svc) => {
      const spec = svc.spec ?? {};
      const ports = (spec.ports ?? [])
        .map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ''}/${p.protocol ?? 'TCP'}${p.targetPort !== undefined && p.targetPort !== p.port ? `→${p.targetPort}` : ''}`)
        .join(' ');
      let ready = 0;
      let local = 0;
      for (const s of slicesOf(svc, slices)) {
        for (const e of s.endpoints ?? []) {
          if (!canonicalIP(e.addresses?.[0]) || e.conditions?.ready === false) continue;
          ready++;
          if (e.nodeName === nodeName) local++;
        }
      }
      const notes: string[] = [];
      const ingress = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter(Boolean);
      if (ingress.length) notes.push(`ingress ${ingress.join(',')}`);
      if (spec.externalIPs?.length) notes.push(`externalIPs ${spec.externalIPs.join(',')}`);
      if (spec.sessionAffinity === 'ClientIP') notes.push(`sessionAffinity ClientIP (${spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800} s)`);
      if (spec.externalTrafficPolicy === 'Local' && spec.type !== 'ClusterIP') notes.push('externalTrafficPolicy Local');
      if (spec.internalTrafficPolicy === 'Local') notes.push('internalTrafficPolicy Local');
      if (spec.healthCheckNodePort) notes.push(`healthCheckNodePort ${spec.healthCheckNodePort}`);
      const clusterIPs = spec.clusterIPs?.length ? spec.clusterIPs.join(',') : (spec.clusterIP ?? '-');
      return [
        `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? '?'}`,
        spec.type ?? 'ClusterIP',
        clusterIPs,
        ports,
        `${ready} ready${local !== ready ? `, ${local} on ${nodeName}` : ''}`,
        notes.join(', '),
      ];
    });
  return table(['service', 'type', 'cluster IP', 'ports', 'endpoints', 'also'], rows);
}

function describeTarget(r: TargetResult): string {
  const t = r.target;
  const notes: string[] = [];
  if (t.sticky) notes.push('session affinity');
  if (t.localOnly) notes.push('local endpoints only');
  if (t.scheduler !== 'rr') notes.push(t.scheduler);
  return notes.join(', ');
}

/** One row per target: what was requested from where, who answered how often, and the client address pods saw. */
export function formatTargetTable(results: readonly TargetResult[]): string[] {
  const rows = results.map((r) => {
    const t = r.target;
    const answers = [...r.counts].map(([pod, n]) => `${pod} ×${n}`).join('  ');
    return [
      t.service,
      `${t.kind} ${t.protocol === 'TCP' ? 'http' : t.protocol.toLowerCase()}://${joinHostPort(t.address, t.port)}`,
      t.from,
      String(t.requests),
      String(r.failed),
      answers,
      r.clients.join(',') || '-',
      describeTarget(r),
    ];
  });
  return table(['service', 'requested at', 'from', 'sent', 'failed', 'answered by (pod ×count)', 'pod saw client', 'note'], rows, new Set([3, 4]));
}

export interface HealthCheckResult {
  check: HealthCheckTarget;
  address: string;
  status?: number;
  localEndpoints?: number;
  error?: string;
  problems: string[];
}

/** What a health check node port answered, against what kube-proxy answers (200 iff local ready endpoints). */
export function judgeHealthCheck(check: HealthCheckTarget, address: string, answer: { status?: number; body?: string; error?: string }): HealthCheckResult {
  const out: HealthCheckResult = { check, address, problems: [] };
  const what = `health check node port http://${joinHostPort(address, check.port)}/ (${check.service})`;
  if (answer.error !== undefined || answer.status === undefined) {
    out.error = answer.error ?? 'no answer';
    out.problems.push(`${what}: ${out.error}`);
    return out;
  }
  out.status = answer.status;
  try {
    const body = JSON.parse(answer.body ?? '') as { localEndpoints?: unknown };
    if (typeof body.localEndpoints === 'number') out.localEndpoints = body.localEndpoints;
  } catch {
    /* judged below */
  }
  if (answer.status !== check.expectedStatus) out.problems.push(`${what}: answered ${answer.status}, expected ${check.expectedStatus}`);
  if (out.localEndpoints !== check.localEndpoints) {
    out.problems.push(`${what}: localEndpoints ${out.localEndpoints ?? '(missing)'}, expected ${check.localEndpoints}`);
  }
  return out;
}

export function formatHealthCheck(r: HealthCheckResult): string {
  const url = `http://${joinHostPort(r.address, r.check.port)}/`;
  if (r.error) return `${url} (${r.check.service}): ${r.error}`;
  const verdict = r.problems.length ? `expected ${r.check.expectedStatus} with localEndpoints ${r.check.localEndpoints}` : 'as kube-proxy answers';
  return `${url} (${r.check.service}): HTTP ${r.status}, localEndpoints ${r.localEndpoints ?? '?'} (${verdict})`;
}

// ---------------------------------------------------------------- scaling

export interface PhaseCount {
  phase: string;
  sent: number;
  failed: number;
  /** Answers per pod in this phase. */
  pods: Map<string, number>;
}

/** One row per phase of the scale-down/up, one column per pod ("-" when the pod was not there to ask). */
export function formatScaleTable(phases: readonly PhaseCount[], podOrder: readonly string[]): string[] {
  const rows = phases.map((p) => [p.phase, String(p.sent), String(p.failed), ...podOrder.map((pod) => String(p.pods.get(pod) ?? 0))]);
  const right = new Set<number>([1, 2, ...podOrder.map((_, i) => i + 3)]);
  return table(['phase', 'sent', 'failed', ...podOrder], rows, right);
}

// ---------------------------------------------------------------- the IPVS table

/** The IPVS section of `kube-ipvs dump --output text` (from its first line to the next "# " section). */
export function ipvsSection(dumpText: string): string[] {
  const lines = dumpText.split('\n');
  const end = lines.findIndex((l, i) => i > 0 && l.startsWith('# '));
  return lines.slice(0, end < 0 ? lines.length : end).filter((l, i, all) => l !== '' || i < all.length - 1);
}

/**
 * The rows of one virtual server (and its real servers) in that section, with the two header lines: what the
 * scale step shows before and after each change.
 */
export function virtualServerRows(section: readonly string[], protocol: string, hostPort: string): string[] {
  const headers = section.slice(1, 3);
  const out: string[] = [];
  let inside = false;
  for (const line of section.slice(3)) {
    if (!line.startsWith(' ')) inside = line.startsWith(`${protocol.padEnd(4)} ${hostPort} `);
    if (inside) out.push(line);
  }
  return [...headers, ...out];
}
