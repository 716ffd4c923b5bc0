// The resolved configuration of one kube-ipvs process: kube-proxy's flags and KubeProxyConfiguration
// fields after defaulting and validation (cli/ builds it; desired/ and runtime/ read it).
// Durations are milliseconds. Field names follow KubeProxyConfiguration where one exists.

export type DetectLocalMode = '' | 'ClusterCIDR' | 'NodeCIDR' | 'BridgeInterface' | 'InterfaceNamePrefix';

export interface IPVSConfig {
  scheduler: string; // "" already defaulted to "rr"
  excludeCIDRs: string[];
  strictARP: boolean;
  tcpTimeoutMs: number; // 0 = leave as is
  tcpFinTimeoutMs: number;
  udpTimeoutMs: number;
}

export interface ProxyConfig {
  mode: 'ipvs';
  hostnameOverride: string; // the node name ("" = os hostname, resolved by cli/)
  bindAddress: string;
  healthzBindAddress: string; // "" disables
  metricsBindAddress: string; // "" disables
  clusterCIDRs: string[];
  detectLocalMode: DetectLocalMode;
  podBridgeInterface: string;
  podInterfaceNamePrefix: string;
  nodePortAddresses: string[]; // CIDRs, or ["primary"], or [] (all local addresses)
  masqueradeAll: boolean;
  masqueradeBit: number; // 0..31, default 14
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  ipvs: IPVSConfig;
  kubeconfig: string;
  master: string;
  configSyncPeriodMs: number;
  verbosity: number; // -v
  cleanup: boolean;
  initOnly: boolean;
  /** kube-ipvs beyond kube-proxy: how long a removed TCP real server drains at weight 0 before deletion. */
  gracefulTerminationPeriodMs: number;
}

export function defaultProxyConfig(): ProxyConfig {
  return {
    mode: 'ipvs',
    hostnameOverride: '',
    bindAddress: '0.0.0.0',
    healthzBindAddress: '0.0.0.0:10256',
    metricsBindAddress: '127.0.0.1:10249',
    clusterCIDRs: [],
    detectLocalMode: '',
    podBridgeInterface: '',
    podInterfaceNamePrefix: '',
    nodePortAddresses: [],
    masqueradeAll: false,
    masqueradeBit: 14,
    syncPeriodMs: 30_000,
    minSyncPeriodMs: 1_000,
    ipvs: { scheduler: 'rr', excludeCIDRs: [], strictARP: false, tcpTimeoutMs: 0, tcpFinTimeoutMs: 0, udpTimeoutMs: 0 },
    kubeconfig: '',
    master: '',
    configSyncPeriodMs: 15 * 60_000,
    verbosity: 0,
    cleanup: false,
    initOnly: false,
    gracefulTerminationPeriodMs: 30_000,
  };
}
