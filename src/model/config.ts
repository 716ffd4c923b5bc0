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
  // Optional (added by cli/; resolveConfig always fills them): kube-proxy settings kube-ipvs carries so the runtime
  // can act on them as kube-proxy does. Absent in hand-built configs (tests), which means kube-proxy's defaults.
  /** KubeProxyConfiguration.conntrack / --conntrack-*: kube-proxy writes the nf_conntrack sysctls from these. */
  conntrack?: ConntrackConfig;
  /** --oom-score-adj (default -999). */
  oomScoreAdj?: number;
  /** clientConnection / --kube-api-*: API client settings. */
  clientConnection?: { contentType: string; qps: number; burst: number };
  /** --bind-address-hard-fail: failing to bind the health / metrics port is fatal. */
  bindAddressHardFail?: boolean;
  /** --profiling: /debug/pprof on the metrics server (kube-ipvs accepts it; there is no Go pprof to serve). */
  enableProfiling?: boolean;
  /** --feature-gates / featureGates, as given (no gate changes kube-ipvs' behaviour today). */
  featureGates?: Record<string, boolean>;
}

export interface ConntrackConfig {
  maxPerCore: number; // 0 = leave nf_conntrack_max as is
  min: number;
  tcpEstablishedTimeoutMs: number; // 0 = leave as is
  tcpCloseWaitTimeoutMs: number;
  tcpBeLiberal: boolean;
  udpTimeoutMs: number;
  udpStreamTimeoutMs: number;
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
