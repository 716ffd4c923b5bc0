// --write-config-to: the resolved configuration written back as a KubeProxyConfiguration YAML file, in the shape
// kube-proxy's own --write-config-to produces (internal -> v1alpha1 conversion for mode ipvs: the sync periods go
// to the ipvs section, the iptables ones stay zero). Pure: returns the text.

import { stringify } from 'yaml';
import { CONFIG_API_VERSION, CONFIG_KIND } from './config-file.js';
import { formatGoDuration } from './duration.js';
import type { KubeProxySettings } from './kube-proxy-settings.js';

export function kubeProxyConfigurationYaml(s: KubeProxySettings, hostnameOverride: string): string {
  const d = formatGoDuration;
  const doc = {
    apiVersion: CONFIG_API_VERSION,
    kind: CONFIG_KIND,
    bindAddress: s.bindAddress,
    bindAddressHardFail: s.bindAddressHardFail,
    clientConnection: {
      acceptContentTypes: s.clientConnection.acceptContentTypes,
      burst: s.clientConnection.burst,
      contentType: s.clientConnection.contentType,
      kubeconfig: s.clientConnection.kubeconfig,
      qps: s.clientConnection.qps,
    },
    clusterCIDR: s.clusterCIDRs.join(','),
    configSyncPeriod: d(s.configSyncPeriodMs),
    conntrack: {
      maxPerCore: s.conntrack.maxPerCore,
      min: s.conntrack.min,
      tcpBeLiberal: s.conntrack.tcpBeLiberal,
      tcpCloseWaitTimeout: d(s.conntrack.tcpCloseWaitTimeoutMs),
      tcpEstablishedTimeout: d(s.conntrack.tcpEstablishedTimeoutMs),
      udpStreamTimeout: d(s.conntrack.udpStreamTimeoutMs),
      udpTimeout: d(s.conntrack.udpTimeoutMs),
    },
    detectLocal: { bridgeInterface: s.bridgeInterface, interfaceNamePrefix: s.interfaceNamePrefix },
    detectLocalMode: s.detectLocalMode === '' ? 'ClusterCIDR' : s.detectLocalMode,
    enableProfiling: s.enableProfiling,
    featureGates: s.featureGates,
    healthzBindAddress: s.healthzBindAddress,
    hostnameOverride,
    iptables: {
      localhostNodePorts: s.localhostNodePorts,
      masqueradeAll: s.masqueradeAll,
      masqueradeBit: s.masqueradeBit,
      minSyncPeriod: '0s',
      syncPeriod: '0s',
    },
    ipvs: {
      excludeCIDRs: s.ipvs.excludeCIDRs.length > 0 ? s.ipvs.excludeCIDRs : null,
      minSyncPeriod: d(s.minSyncPeriodMs),
      scheduler: s.ipvs.scheduler,
      strictARP: s.ipvs.strictARP,
      syncPeriod: d(s.syncPeriodMs),
      tcpFinTimeout: d(s.ipvs.tcpFinTimeoutMs),
      tcpTimeout: d(s.ipvs.tcpTimeoutMs),
      udpTimeout: d(s.ipvs.udpTimeoutMs),
    },
    logging: { flushFrequency: d(s.logging.flushFrequencyMs), format: s.logging.format, verbosity: s.logging.verbosity },
    metricsBindAddress: s.metricsBindAddress,
    mode: 'ipvs',
    nodePortAddresses: s.nodePortAddresses.length > 0 ? s.nodePortAddresses : null,
    oomScoreAdj: s.oomScoreAdj,
    portRange: s.portRange,
    showHiddenMetricsForVersion: s.showHiddenMetricsForVersion,
  };
  return stringify(doc);
}
