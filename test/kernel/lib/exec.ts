// Running tools from kernel tests: an argument list (never a shell string), optionally inside another network
// namespace, throwing a readable error (command, exit code, stderr) unless the caller accepts failure.
// The implementation lives with the sandbox's pods (src/sandbox/pods.ts), which the demo uses too.

export { cmd, tryCmd, CommandError, type CmdOptions, type ToolResult } from '../../../src/sandbox/pods.js';

/** True when the test process runs inside the kube-ipvs guest (each ktest file gets a namespace there). */
export function inGuest(): boolean {
  return process.env.KUBE_IPVS_KTEST_NETNS !== undefined;
}
