// The operations the planner hands to the kernel drivers: plain data (JSON-serialisable, comparable with
// deepEqual), one discriminated union. Every op is idempotent by contract (principle 3): "already exists"
// on add and "not found" on delete are success for the driver.
//
// `id` is stable and unique within a plan: `<kind> <canonical key>` (design principle 2). `dependsOn`
// lists ids of EARLIER ops in the same plan that must have succeeded for this one to make sense; an
// executor skips an op whose dependency failed (see skip.ts). List order is the apply order.

import type { IpsetType, Protocol } from '../model/state.js';
import { DUMMY_INTERFACE, realServerKey, virtualServerKey } from '../model/state.js';

export type FamilyName = 'ipv4' | 'ipv6';
export type TableName = 'nat' | 'filter';
export const FAMILY_NAMES: readonly FamilyName[] = ['ipv4', 'ipv6'];
export const TABLE_NAMES: readonly TableName[] = ['nat', 'filter'];

/** The identity of an IPVS virtual server (what the kernel looks it up by). */
export interface VirtualServerRef {
  protocol: Protocol;
  address: string;
  port: number;
}

/** The editable part of a virtual server (IPVS_CMD_SET_SERVICE can change these in place). */
export interface VirtualServerParams {
  scheduler: string;
  /** IP_VS_SVC_F_* without HASHED. */
  flags: number;
  /** Persistence timeout in seconds. */
  timeout: number;
}

export type VirtualServerSpec = VirtualServerRef & VirtualServerParams;

export interface RealServerRef {
  address: string;
  port: number;
}

export interface RealServerSpec extends RealServerRef {
  weight: number;
}

export interface JumpRule {
  from: string;
  to: string;
  comment: string;
}

interface OpBase {
  id: string;
  dependsOn: string[];
}

export interface EnsureLinkOp extends OpBase {
  kind: 'ensure-link';
  link: string;
}
/** Cleanup only (`--cleanup`). */
export interface DeleteLinkOp extends OpBase {
  kind: 'delete-link';
  link: string;
}
export interface AddAddressOp extends OpBase {
  kind: 'add-address';
  link: string;
  /** Canonical text; the driver adds it as /32 or /128. */
  address: string;
}
export interface DelAddressOp extends OpBase {
  kind: 'del-address';
  link: string;
  address: string;
}
export interface IpsetCreateOp extends OpBase {
  kind: 'ipset-create';
  set: string;
  type: IpsetType;
  family: 'inet' | 'inet6';
}
export interface IpsetAddOp extends OpBase {
  kind: 'ipset-add';
  set: string;
  entry: string;
}
export interface IpsetDelOp extends OpBase {
  kind: 'ipset-del';
  set: string;
  entry: string;
}
/** Cleanup only. */
export interface IpsetDestroyOp extends OpBase {
  kind: 'ipset-destroy';
  set: string;
}
export interface IptablesRestoreOp extends OpBase {
  kind: 'iptables-restore';
  family: FamilyName;
  table: TableName;
  /** Full iptables-restore text of the table's KUBE-* chains, for `iptables-restore --noflush`. */
  text: string;
}
export interface EnsureJumpRulesOp extends OpBase {
  kind: 'ensure-jump-rules';
  family: FamilyName;
  table: TableName;
  rules: JumpRule[];
}
/** Cleanup only: the jump rules must go before the KUBE chains can be deleted. */
export interface DeleteJumpRulesOp extends OpBase {
  kind: 'delete-jump-rules';
  family: FamilyName;
  table: TableName;
  rules: JumpRule[];
}
export interface AddServiceOp extends OpBase {
  kind: 'add-service';
  service: VirtualServerSpec;
}
/** Changes scheduler / flags / timeout in place: never delete + add, which would drop connections. */
export interface EditServiceOp extends OpBase {
  kind: 'edit-service';
  service: VirtualServerSpec;
  previous: VirtualServerParams;
}
export interface DelServiceOp extends OpBase {
  kind: 'del-service';
  service: VirtualServerRef;
}
export interface AddRealServerOp extends OpBase {
  kind: 'add-real-server';
  service: VirtualServerRef;
  realServer: RealServerSpec;
}

/** Why a real server's weight changes:
 *  weight        desired weight differs from the kernel's (drift, or a changed desired weight);
 *  drain         a removed TCP real server with connections goes to weight 0 (graceful termination);
 *  undrain       an endpoint came back while its real server was draining at weight 0;
 *  initial-sync  first sync after start (kube-proxy's initialSync, issues #92019 #108319). */
export type WeightChangeReason = 'weight' | 'drain' | 'undrain' | 'initial-sync';

export interface EditRealServerOp extends OpBase {
  kind: 'edit-real-server';
  service: VirtualServerRef;
  realServer: RealServerSpec;
  previousWeight: number;
  reason: WeightChangeReason;
}

/** Why a real server is deleted:
 *  removed         graceful termination is off;
 *  not-tcp         UDP / SCTP real servers are deleted at once (kube-proxy §4.4);
 *  no-connections  a TCP real server with no active or inactive connections (also the end of a drain);
 *  drain-expired   the controller's drain deadline passed while connections remained. */
export type RealServerDeleteReason = 'removed' | 'not-tcp' | 'no-connections' | 'drain-expired';

export interface DelRealServerOp extends OpBase {
  kind: 'del-real-server';
  service: VirtualServerRef;
  realServer: RealServerRef;
  reason: RealServerDeleteReason;
}

export type Op =
  | EnsureLinkOp
  | DeleteLinkOp
  | AddAddressOp
  | DelAddressOp
  | IpsetCreateOp
  | IpsetAddOp
  | IpsetDelOp
  | IpsetDestroyOp
  | IptablesRestoreOp
  | EnsureJumpRulesOp
  | DeleteJumpRulesOp
  | AddServiceOp
  | EditServiceOp
  | DelServiceOp
  | AddRealServerOp
  | EditRealServerOp
  | DelRealServerOp;

export type OpKind = Op['kind'];

export const OP_KINDS: readonly OpKind[] = [
  'ensure-link',
  'delete-link',
  'add-address',
  'del-address',
  'ipset-create',
  'ipset-add',
  'ipset-del',
  'ipset-destroy',
  'iptables-restore',
  'ensure-jump-rules',
  'delete-jump-rules',
  'add-service',
  'edit-service',
  'del-service',
  'add-real-server',
  'edit-real-server',
  'del-real-server',
];

/** "TCP/10.96.0.10:80/10.244.1.5:8080": one real server of one virtual server (drain bookkeeping key). */
export function realServerRefKey(vsKey: string, rsKey: string): string {
  return `${vsKey}/${rsKey}`;
}

// ---- ids: `<kind> <canonical key>`; the constructors below and dependency wiring both use these ----

export const opIds = {
  ensureLink: (link: string = DUMMY_INTERFACE) => `ensure-link ${link}`,
  deleteLink: (link: string = DUMMY_INTERFACE) => `delete-link ${link}`,
  addAddress: (address: string, link: string = DUMMY_INTERFACE) => `add-address ${link} ${address}`,
  delAddress: (address: string, link: string = DUMMY_INTERFACE) => `del-address ${link} ${address}`,
  ipsetCreate: (set: string) => `ipset-create ${set}`,
  ipsetAdd: (set: string, entry: string) => `ipset-add ${set} ${entry}`,
  ipsetDel: (set: string, entry: string) => `ipset-del ${set} ${entry}`,
  ipsetDestroy: (set: string) => `ipset-destroy ${set}`,
  iptablesRestore: (family: FamilyName, table: TableName) => `iptables-restore ${family} ${table}`,
  ensureJumpRules: (family: FamilyName, table: TableName) => `ensure-jump-rules ${family} ${table}`,
  deleteJumpRules: (family: FamilyName, table: TableName) => `delete-jump-rules ${family} ${table}`,
  addService: (vs: VirtualServerRef) => `add-service ${virtualServerKey(vs)}`,
  editService: (vs: VirtualServerRef) => `edit-service ${virtualServerKey(vs)}`,
  delService: (vs: VirtualServerRef) => `del-service ${virtualServerKey(vs)}`,
  addRealServer: (vs: VirtualServerRef, rs: RealServerRef) => `add-real-server ${realServerRefKey(virtualServerKey(vs), realServerKey(rs))}`,
  editRealServer: (vs: VirtualServerRef, rs: RealServerRef) => `edit-real-server ${realServerRefKey(virtualServerKey(vs), realServerKey(rs))}`,
  delRealServer: (vs: VirtualServerRef, rs: RealServerRef) => `del-real-server ${realServerRefKey(virtualServerKey(vs), realServerKey(rs))}`,
};

// ---- constructors (dependsOn starts empty; plan.ts wires it) ----

function ref(vs: VirtualServerRef): VirtualServerRef {
  return { protocol: vs.protocol, address: vs.address, port: vs.port };
}

function spec(vs: VirtualServerSpec): VirtualServerSpec {
  return { ...ref(vs), scheduler: vs.scheduler, flags: vs.flags, timeout: vs.timeout };
}

function jumpList(rules: readonly JumpRule[]): JumpRule[] {
  return rules.map((r) => ({ from: r.from, to: r.to, comment: r.comment }));
}

export const ops = {
  ensureLink: (link: string = DUMMY_INTERFACE): EnsureLinkOp => ({ kind: 'ensure-link', id: opIds.ensureLink(link), dependsOn: [], link }),
  deleteLink: (link: string = DUMMY_INTERFACE): DeleteLinkOp => ({ kind: 'delete-link', id: opIds.deleteLink(link), dependsOn: [], link }),
  addAddress: (address: string, link: string = DUMMY_INTERFACE): AddAddressOp => ({
    kind: 'add-address',
    id: opIds.addAddress(address, link),
    dependsOn: [],
    link,
    address,
  }),
  delAddress: (address: string, link: string = DUMMY_INTERFACE): DelAddressOp => ({
    kind: 'del-address',
    id: opIds.delAddress(address, link),
    dependsOn: [],
    link,
    address,
  }),
  ipsetCreate: (set: string, type: IpsetType, family: 'inet' | 'inet6'): IpsetCreateOp => ({
    kind: 'ipset-create',
    id: opIds.ipsetCreate(set),
    dependsOn: [],
    set,
    type,
    family,
  }),
  ipsetAdd: (set: string, entry: string): IpsetAddOp => ({ kind: 'ipset-add', id: opIds.ipsetAdd(set, entry), dependsOn: [], set, entry }),
  ipsetDel: (set: string, entry: string): IpsetDelOp => ({ kind: 'ipset-del', id: opIds.ipsetDel(set, entry), dependsOn: [], set, entry }),
  ipsetDestroy: (set: string): IpsetDestroyOp => ({ kind: 'ipset-destroy', id: opIds.ipsetDestroy(set), dependsOn: [], set }),
  iptablesRestore: (family: FamilyName, table: TableName, text: string): IptablesRestoreOp => ({
    kind: 'iptables-restore',
    id: opIds.iptablesRestore(family, table),
    dependsOn: [],
    family,
    table,
    text,
  }),
  ensureJumpRules: (family: FamilyName, table: TableName, rules: readonly JumpRule[]): EnsureJumpRulesOp => ({
    kind: 'ensure-jump-rules',
    id: opIds.ensureJumpRules(family, table),
    dependsOn: [],
    family,
    table,
    rules: jumpList(rules),
  }),
  deleteJumpRules: (family: FamilyName, table: TableName, rules: readonly JumpRule[]): DeleteJumpRulesOp => ({
    kind: 'delete-jump-rules',
    id: opIds.deleteJumpRules(family, table),
    dependsOn: [],
    family,
    table,
    rules: jumpList(rules),
  }),
  addService: (vs: VirtualServerSpec): AddServiceOp => ({ kind: 'add-service', id: opIds.addService(vs), dependsOn: [], service: spec(vs) }),
  editService: (vs: VirtualServerSpec, previous: VirtualServerParams): EditServiceOp => ({
    kind: 'edit-service',
    id: opIds.editService(vs),
    dependsOn: [],
    service: spec(vs),
    previous: { scheduler: previous.scheduler, flags: previous.flags, timeout: previous.timeout },
  }),
  delService: (vs: VirtualServerRef): DelServiceOp => ({ kind: 'del-service', id: opIds.delService(vs), dependsOn: [], service: ref(vs) }),
  addRealServer: (vs: VirtualServerRef, rs: RealServerSpec): AddRealServerOp => ({
    kind: 'add-real-server',
    id: opIds.addRealServer(vs, rs),
    dependsOn: [],
    service: ref(vs),
    realServer: { address: rs.address, port: rs.port, weight: rs.weight },
  }),
  editRealServer: (vs: VirtualServerRef, rs: RealServerSpec, previousWeight: number, reason: WeightChangeReason): EditRealServerOp => ({
    kind: 'edit-real-server',
    id: opIds.editRealServer(vs, rs),
    dependsOn: [],
    service: ref(vs),
    realServer: { address: rs.address, port: rs.port, weight: rs.weight },
    previousWeight,
    reason,
  }),
  delRealServer: (vs: VirtualServerRef, rs: RealServerRef, reason: RealServerDeleteReason): DelRealServerOp => ({
    kind: 'del-real-server',
    id: opIds.delRealServer(vs, rs),
    dependsOn: [],
    service: ref(vs),
    realServer: { address: rs.address, port: rs.port },
    reason,
  }),
};

// ---- printable form ----

function jumps(rules: readonly JumpRule[]): string {
  return rules.map((r) => `${r.from} -> ${r.to}`).join(', ');
}

function restoreShape(text: string): string {
  let chains = 0;
  let rules = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(':')) chains++;
    else if (line.startsWith('-A ') || line.startsWith('-I ')) rules++;
  }
  return `${chains} chains, ${rules} rules`;
}

/** One printable line per op, in the canonical keys used by logs, `plan` output and golden files. */
export function describeOp(op: Op): string {
  switch (op.kind) {
    case 'ensure-link':
      return `ensure link ${op.link}`;
    case 'delete-link':
      return `- link ${op.link}`;
    case 'add-address':
      return `+ address ${op.link} ${op.address}`;
    case 'del-address':
      return `- address ${op.link} ${op.address}`;
    case 'ipset-create':
      return `+ ipset ${op.set} ${op.type} family ${op.family}`;
    case 'ipset-destroy':
      return `- ipset ${op.set}`;
    case 'ipset-add':
      return `+ ${op.set} ${op.entry}`;
    case 'ipset-del':
      return `- ${op.set} ${op.entry}`;
    case 'iptables-restore':
      return `~ iptables ${op.family} ${op.table} (${restoreShape(op.text)})`;
    case 'ensure-jump-rules':
      return `ensure jumps ${op.family} ${op.table}: ${jumps(op.rules)}`;
    case 'delete-jump-rules':
      return `- jumps ${op.family} ${op.table}: ${jumps(op.rules)}`;
    case 'add-service': {
      const s = op.service;
      return `+ service ${virtualServerKey(s)} scheduler ${s.scheduler} flags ${s.flags} timeout ${s.timeout}`;
    }
    case 'edit-service': {
      const s = op.service;
      const p = op.previous;
      const changes: string[] = [];
      if (s.scheduler !== p.scheduler) changes.push(`scheduler ${p.scheduler} -> ${s.scheduler}`);
      if (s.flags !== p.flags) changes.push(`flags ${p.flags} -> ${s.flags}`);
      if (s.timeout !== p.timeout) changes.push(`timeout ${p.timeout} -> ${s.timeout}`);
      return `~ service ${virtualServerKey(s)} ${changes.join(', ')}`;
    }
    case 'del-service':
      return `- service ${virtualServerKey(op.service)}`;
    case 'add-real-server':
      return `+ real server ${virtualServerKey(op.service)} ${realServerKey(op.realServer)} weight ${op.realServer.weight}`;
    case 'edit-real-server':
      return `~ real server ${virtualServerKey(op.service)} ${realServerKey(op.realServer)} weight ${op.previousWeight} -> ${op.realServer.weight} (${op.reason})`;
    case 'del-real-server':
      return `- real server ${virtualServerKey(op.service)} ${realServerKey(op.realServer)} (${op.reason})`;
  }
}
