// The inputs of the desired-state computation (the contract other folders build against).
import type { ApiEndpointSlice, ApiNode, ApiService } from '../model/api.js';
import type { ProxyConfig } from '../model/config.js';

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
