// One-line summaries of a plan for logs and `kube-ipvs plan`:
//   "ipvs: +3 ~1 -2 services, +30 -2 real servers; addresses +3 -1; ipset +40 -2 entries; iptables 1 table rewritten"

import type { Op } from './ops.js';

export interface PlanCounts {
  services: { add: number; edit: number; del: number };
  /** `edit` includes drains; `drain` counts the edits that set weight 0 to drain. */
  realServers: { add: number; edit: number; del: number; drain: number };
  addresses: { add: number; del: number };
  ipsets: { create: number; destroy: number };
  ipsetEntries: { add: number; del: number };
  iptablesTables: number;
  jumpRuleTables: { ensure: number; del: number };
  link: { ensure: number; del: number };
}

export function countOps(ops: readonly Op[]): PlanCounts {
  const c: PlanCounts = {
    services: { add: 0, edit: 0, del: 0 },
    realServers: { add: 0, edit: 0, del: 0, drain: 0 },
    addresses: { add: 0, del: 0 },
    ipsets: { create: 0, destroy: 0 },
    ipsetEntries: { add: 0, del: 0 },
    iptablesTables: 0,
    jumpRuleTables: { ensure: 0, del: 0 },
    link: { ensure: 0, del: 0 },
  };
  for (const op of ops) {
    switch (op.kind) {
      case 'add-service': c.services.add++; break;
      case 'edit-service': c.services.edit++; break;
      case 'del-service': c.services.del++; break;
      case 'add-real-server': c.realServers.add++; break;
      case 'edit-real-server':
        c.realServers.edit++;
        if (op.reason === 'drain') c.realServers.drain++;
        break;
      case 'del-real-server': c.realServers.del++; break;
      case 'add-address': c.addresses.add++; break;
      case 'del-address': c.addresses.del++; break;
      case 'ipset-create': c.ipsets.create++; break;
      case 'ipset-destroy': c.ipsets.destroy++; break;
      case 'ipset-add': c.ipsetEntries.add++; break;
      case 'ipset-del': c.ipsetEntries.del++; break;
      case 'iptables-restore': c.iptablesTables++; break;
      case 'ensure-jump-rules': c.jumpRuleTables.ensure++; break;
      case 'delete-jump-rules': c.jumpRuleTables.del++; break;
      case 'ensure-link': c.link.ensure++; break;
      case 'delete-link': c.link.del++; break;
    }
  }
  return c;
}

/** "+3 ~1 -2 noun", leaving out zero terms; "" when all are zero. */
function terms(add: number, edit: number, del: number, noun: string): string {
  const t = [add ? `+${add}` : '', edit ? `~${edit}` : '', del ? `-${del}` : ''].filter(Boolean);
  return t.length ? `${t.join(' ')} ${noun}` : '';
}

function plural(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}

export function formatCounts(c: PlanCounts): string {
  const parts: string[] = [];
  const rs = terms(c.realServers.add, c.realServers.edit, c.realServers.del, 'real servers');
  const ipvs = [terms(c.services.add, c.services.edit, c.services.del, 'services'), rs && c.realServers.drain ? `${rs} (${c.realServers.drain} draining)` : rs].filter(Boolean);
  if (ipvs.length) parts.push(`ipvs: ${ipvs.join(', ')}`);
  const addr = terms(c.addresses.add, 0, c.addresses.del, '').trim();
  if (addr) parts.push(`addresses ${addr}`);
  const sets = [terms(c.ipsets.create, 0, c.ipsets.destroy, 'sets'), terms(c.ipsetEntries.add, 0, c.ipsetEntries.del, 'entries')].filter(Boolean);
  if (sets.length) parts.push(`ipset ${sets.join(', ')}`);
  const ipt: string[] = [];
  if (c.iptablesTables) ipt.push(`${plural(c.iptablesTables, 'table', 'tables')} rewritten`);
  if (c.jumpRuleTables.ensure) ipt.push(`jump rules ensured in ${plural(c.jumpRuleTables.ensure, 'table', 'tables')}`);
  if (c.jumpRuleTables.del) ipt.push(`jump rules removed from ${plural(c.jumpRuleTables.del, 'table', 'tables')}`);
  if (ipt.length) parts.push(`iptables ${ipt.join(', ')}`);
  if (c.link.ensure) parts.push('link ensured');
  if (c.link.del) parts.push('link deleted');
  return parts.length ? parts.join('; ') : 'no changes';
}

export function summarizeOps(ops: readonly Op[]): string {
  return formatCounts(countOps(ops));
}

/** True when applying the plan would change nothing (no ops at all). */
export function isEmptyPlan(plan: readonly Op[] | { ops: readonly Op[] }): boolean {
  const list = Array.isArray(plan) ? plan : (plan as { ops: readonly Op[] }).ops;
  return !Array.isArray(list) || list.length === 0;
}
