// kube-proxy's internal configuration (pkg/proxy/apis/config), as the command line builds it from flags or from a
// KubeProxyConfiguration file, before it is validated and turned into kube-ipvs' ProxyConfig.
// Two starting points exist because kube-proxy has two (reference §1.3):
//   - flags only: newKubeProxyConfiguration() = v1alpha1 defaults converted with mode "" (the iptables branch),
//     so sync period 30s and min sync period 1s;
//   - --config FILE: the file's v1alpha1 object defaulted, then converted with its own mode; ipvs.minSyncPeriod has
//     no default, so a config-file IPVS node runs with 0s.
// kube-ipvs keeps both, so a node behaves the same after switching binaries. Durations are milliseconds.

import type { DetectLocalMode, ProxyConfig } from '../model/config.js';
import { parseIP } from '../model/ip.js';
import { splitHostPort } from './values.js';

export const PROXY_HEALTHZ_PORT = 10256;
export const PROXY_STATUS_PORT = 10249;
export const KUBE_PROXY_OOM_SCORE_ADJ = -999;

export interface ConntrackSettings {
  maxPerCore: number;
  min: number;
  tcpEstablishedTimeoutMs: number;
  tcpCloseWaitTimeoutMs: number;
  tcpBeLiberal: boolean;
  udpTimeoutMs: number;
  udpStreamTimeoutMs: number;
}

export interface KubeProxySettings {
  featureGates: Record<string, boolean>;
  clientConnection: { kubeconfig: string; contentType: string; acceptContentTypes: string; qps: number; burst: number };
  logging: { format: string; verbosity: number; flushFrequencyMs: number };
  hostnameOverride: string;
  bindAddress: string;
  healthzBindAddress: string;
  metricsBindAddress: string;
  bindAddressHardFail: boolean;
  enableProfiling: boolean;
  showHiddenMetricsForVersion: string;
  /** As written: "" | "ipvs" are what kube-ipvs accepts. */
  mode: string;
  masqueradeBit: number;
  masqueradeAll: boolean;
  localhostNodePorts: boolean;
  /** The resolved (mode-specific) sync periods. */
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  ipvs: {
    scheduler: string;
    excludeCIDRs: string[];
    strictARP: boolean;
    tcpTimeoutMs: number;
    tcpFinTimeoutMs: number;
    udpTimeoutMs: number;
  };
  detectLocalMode: string;
  clusterCIDRs: string[];
  bridgeInterface: string;
  interfaceNamePrefix: string;
  nodePortAddresses: string[];
  oomScoreAdj: number;
  conntrack: ConntrackSettings;
  configSyncPeriodMs: number;
  portRange: string;
}

/** kube-proxy's defaults when it is started with flags only (newKubeProxyConfiguration). */
export function flagDefaults(): KubeProxySettings {
  return {
    featureGates: {},
    clientConnection: { kubeconfig: '', contentType: 'application/vnd.kubernetes.protobuf', acceptContentTypes: '', qps: 5, burst: 10 },
    logging: { format: 'text', verbosity: 0, flushFrequencyMs: 5_000 },
    hostnameOverride: '',
    bindAddress: '0.0.0.0',
    healthzBindAddress: `0.0.0.0:${PROXY_HEALTHZ_PORT}`,
    metricsBindAddress: `127.0.0.1:${PROXY_STATUS_PORT}`,
    bindAddressHardFail: false,
    enableProfiling: false,
    showHiddenMetricsForVersion: '',
    mode: '',
    masqueradeBit: 14,
    masqueradeAll: false,
    localhostNodePorts: true,
    // Converted with mode "" → the iptables section's defaults (30s / 1s), see the file comment.
    syncPeriodMs: 30_000,
    minSyncPeriodMs: 1_000,
    ipvs: { scheduler: '', excludeCIDRs: [], strictARP: false, tcpTimeoutMs: 0, tcpFinTimeoutMs: 0, udpTimeoutMs: 0 },
    detectLocalMode: '',
    clusterCIDRs: [],
    bridgeInterface: '',
    interfaceNamePrefix: '',
    nodePortAddresses: [],
    oomScoreAdj: KUBE_PROXY_OOM_SCORE_ADJ,
    conntrack: {
      maxPerCore: 32 * 1024,
      min: 128 * 1024,
      tcpEstablishedTimeoutMs: 24 * 3_600_000,
      tcpCloseWaitTimeoutMs: 3_600_000,
      tcpBeLiberal: false,
      udpTimeoutMs: 0,
      udpStreamTimeoutMs: 0,
    },
    configSyncPeriodMs: 15 * 60_000,
    portRange: '',
  };
}

/**
 * proxyutil.AppendPortIfNeeded: "1.2.3.4" -> "1.2.3.4:port", "::1" -> "[::1]:port"; anything that already has a
 * port, or is not an IP, is returned unchanged (validation reports the latter).
 */
export function appendPortIfNeeded(addr: string, port: number): string {
  if (splitHostPort(addr)) return addr;
  const ip = parseIP(addr);
  if (!ip) return addr;
  return ip.family === 4 ? `${addr}:${port}` : `[${addr}]:${port}`;
}

/** Whether kube-ipvs treats the mode as IPVS (blank means IPVS here: it is the only mode kube-ipvs has). */
export function isIpvsMode(mode: string): boolean {
  return mode === '' || mode === 'ipvs';
}

const DETECT_LOCAL_MODES: readonly string[] = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];

/**
 * The ProxyConfig the rest of kube-ipvs reads. Call after validation: detectLocalMode is then one of the known
 * values (blank becomes ClusterCIDR, kube-proxy's platformApplyDefaults) and the scheduler "" becomes "rr".
 */
export function toProxyConfig(
  s: KubeProxySettings,
  extra: { nodeName: string; master: string; cleanup: boolean; initOnly: boolean; gracefulTerminationPeriodMs: number },
): ProxyConfig {
  const detectLocalMode = (s.detectLocalMode === '' ? 'ClusterCIDR' : s.detectLocalMode) as DetectLocalMode;
  if (!DETECT_LOCAL_MODES.includes(detectLocalMode)) throw new Error(`toProxyConfig: unvalidated detectLocalMode ${detectLocalMode}`);
  return {
    mode: 'ipvs',
    hostnameOverride: extra.nodeName,
    bindAddress: s.bindAddress,
    healthzBindAddress: s.healthzBindAddress,
    metricsBindAddress: s.metricsBindAddress,
    clusterCIDRs: [...s.clusterCIDRs],
    detectLocalMode,
    podBridgeInterface: s.bridgeInterface,
    podInterfaceNamePrefix: s.interfaceNamePrefix,
    nodePortAddresses: [...s.nodePortAddresses],
    masqueradeAll: s.masqueradeAll,
    masqueradeBit: s.masqueradeBit,
    syncPeriodMs: s.syncPeriodMs,
    minSyncPeriodMs: s.minSyncPeriodMs,
    ipvs: {
      scheduler: s.ipvs.scheduler === '' ? 'rr' : s.ipvs.scheduler,
      excludeCIDRs: [...s.ipvs.excludeCIDRs],
      strictARP: s.ipvs.strictARP,
      tcpTimeoutMs: s.ipvs.tcpTimeoutMs,
      tcpFinTimeoutMs: s.ipvs.tcpFinTimeoutMs,
      udpTimeoutMs: s.ipvs.udpTimeoutMs,
    },
    kubeconfig: s.clientConnection.kubeconfig,
    master: extra.master,
    configSyncPeriodMs: s.configSyncPeriodMs,
    verbosity: s.logging.verbosity,
    cleanup: extra.cleanup,
    initOnly: extra.initOnly,
    gracefulTerminationPeriodMs: extra.gracefulTerminationPeriodMs,
    conntrack: { ...s.conntrack },
    oomScoreAdj: s.oomScoreAdj,
    clientConnection: { contentType: s.clientConnection.contentType, qps: s.clientConnection.qps, burst: s.clientConnection.burst },
    bindAddressHardFail: s.bindAddressHardFail,
    enableProfiling: s.enableProfiling,
    featureGates: { ...s.featureGates },
  };
}
