// `kube-ipvs plan`: the desired state of one node for a set of objects read from files, printed as the public plan
// document (--output json) or in ipvsadm / ipset / iptables-save form (--output text). Touches no kernel and no API
// server, so it runs anywhere (CI, a laptop) and answers "what would kube-ipvs program for these Services?".
// Exit codes: 0 when a plan was computed (diagnostics included), 2 when the input cannot be read.

import { computeDesiredState } from '../desired/index.js';
import type { ApiNode } from '../model/api.js';
import { canonicalIP } from '../model/ip.js';
import type { NodeState } from '../model/state.js';
import { readObjectsOption } from './objects-input.js';
import { formatNodeStateText } from './format-text.js';
import type { ResolvedInvocation } from './resolve.js';

export interface CommandIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readFile?: (path: string) => string;
}

/** The plan document with exactly its public top-level keys, in the documented order. */
export function planDocument(state: NodeState): NodeState {
  return {
    ipvs: state.ipvs,
    addresses: state.addresses,
    ipsets: state.ipsets,
    iptables: state.iptables,
    diagnostics: state.diagnostics,
  };
}

export function formatPlanJson(state: NodeState): string {
  return `${JSON.stringify(planDocument(state), null, 2)}\n`;
}

/**
 * Without --node-addresses, the node's InternalIP and ExternalIP addresses from its Node object stand in for the
 * addresses the controller would read from the kernel (a node's interfaces normally carry them).
 */
export function addressesOfNode(node: ApiNode | undefined): string[] {
  const out: string[] = [];
  for (const a of node?.status?.addresses ?? []) {
    if (a.type !== 'InternalIP' && a.type !== 'ExternalIP') continue;
    const ip = canonicalIP(a.address);
    if (ip !== undefined && !out.includes(ip)) out.push(ip);
  }
  return out;
}

/** Runs the plan command. Throws UsageError for bad input (main prints it and exits 2). */
export function runPlan(inv: ResolvedInvocation, io: CommandIO): number {
  const { config, options } = inv;
  const objects = readObjectsOption(options.objects, io, 'plan');
  const nodeName = config.hostnameOverride;
  const node = objects.nodes.find((n) => n.metadata?.name === nodeName);
  if (!node && objects.nodes.length > 0) {
    io.stderr(`note: no Node named ${JSON.stringify(nodeName)} among the objects; planning without the Node object (set --hostname-override)\n`);
  }
  const nodeAddresses = options.nodeAddresses.length > 0 ? options.nodeAddresses : addressesOfNode(node);
  const state = computeDesiredState({
    services: objects.services,
    endpointSlices: objects.endpointSlices,
    node: { nodeName, node, nodeAddresses },
    config,
  });
  io.stdout(options.output === 'json' ? formatPlanJson(state) : formatNodeStateText(state));
  return 0;
}
