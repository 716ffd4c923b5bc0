// Helpers for kernel tests (test/**/*.ktest.ts), which run inside the user-mode Linux guest, each file in its own
// fresh network namespace. Typical file:
//
//   import { describe, it, beforeEach } from 'node:test';
//   import { resetNetns, ipvsadmServices } from '../lib/index.js';
//   describe('my driver', () => {
//     beforeEach(resetNetns);
//     it('...', async () => { ... });
//   });

export { cmd, tryCmd, CommandError, inGuest, type CmdOptions, type ToolResult } from './exec.js';
export { resetNetns, withNetns, createNetns, destroyNetns, netnsPrefix, type Netns } from './netns.js';
export {
  createPodNetwork, nthAddress, requestFromNetns, tcpRequest, udpRequest, httpGet, startClientAgent,
  type ClientAgent, type Pod, type PodAddresses, type PodNetwork, type PodNetworkOptions, type ServeOptions, type Reply,
} from './pods.js';
export {
  parseIpvsadmSave, ipvsadmServices, ipvsadmStats, parseIpsetSave, ipsetSets, parseIptablesSave, iptablesSaveText,
  iptablesRules, iptablesCommand, links, link, linkAddresses, sysctlValue, toolWorks,
  type IpvsadmService, type IpvsadmRealServer, type IpvsadmStats, type IpsetView, type IptablesBackend,
  type IptablesChain, type IptablesView, type LinkView,
} from './readers.js';
export { nftUnsupportedReason, ipvsSchedulerAvailable } from './probes.js';
export { waitFor } from './wait.js';
