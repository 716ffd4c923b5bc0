// Test "pods" for end-to-end kernel tests: the sandbox's pods (src/sandbox/pods.ts) with the tests' names — bridge
// kt-br0 and namespaces named after the test file's own (kt-<n>-<pod>), so leftovers of one file never collide
// with another's.
//
//   const net = await createPodNetwork();                 // kt-br0 10.244.0.1/24, fd00:10:244::1/64
//   const pod = await net.addPod('web-1');                // 10.244.0.2, fd00:10:244::2
//   await pod.serve({ tcp: [8080], udp: [5353] });
//   const r = await tcpRequest('10.96.0.10', 80);          // from the node: r.pod === 'web-1'
//
// Everything is removed by net.destroy() or by resetNetns() (pod namespaces are remembered by src/sandbox/pods.ts).

import { createPodNetwork as createSandboxPodNetwork, type PodNetwork, type PodNetworkOptions } from '../../../src/sandbox/pods.js';
import { netnsPrefix } from './netns.js';

export {
  nthAddress, requestFromNetns, tcpRequest, udpRequest, httpGet, startClientAgent,
  type ClientAgent, type Pod, type PodAddresses, type PodNetwork, type PodNetworkOptions, type ServeOptions, type Reply,
} from '../../../src/sandbox/pods.js';

export function createPodNetwork(opts: PodNetworkOptions = {}): Promise<PodNetwork> {
  return createSandboxPodNetwork({ bridge: 'kt-br0', netnsPrefix: netnsPrefix(), ...opts });
}
