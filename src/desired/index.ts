// CONTRACT (the desired-state helper replaces this stub with the real implementation; keep the exports).
import type { ApiEndpointSlice, ApiNode, ApiService } from '../model/api.js';
import type { ProxyConfig } from '../model/config.js';
import type { DesiredState } from '../model/state.js';

export interface NodeContext {
  /** This node's name (--hostname-override or the OS hostname): decides which endpoints are local. */
  nodeName: string;
  /** The node's own Node object, when known: labels (topology zone), podCIDRs (NodeCIDR detect-local), addresses. */
  node?: ApiNode;
  /** Addresses of every local interface except kube-ipvs0 (kube-proxy's GetAllLocalAddressesExcept): NodePort
   *  virtual servers are made on these, and an ExternalIP / LB IP in this list is not bound to kube-ipvs0. */
  nodeAddresses: string[];
  /** iptables supports MASQUERADE --random-fully (kernel/ detects it; default true). */
  iptablesRandomFully?: boolean;
}

export interface DesiredInput {
  services: readonly ApiService[];
  endpointSlices: readonly ApiEndpointSlice[];
  node: NodeContext;
  config: ProxyConfig;
}

/** Computes the whole desired state of one node (both IP families). Pure; never throws on bad input. */
export function computeDesiredState(_input: DesiredInput): DesiredState {
  throw new Error('computeDesiredState: not implemented yet');
}
