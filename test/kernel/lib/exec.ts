// Running tools from kernel tests: an argument list (never a shell string), optionally inside another network
// namespace, throwing a readable error (command, exit code, stderr) unless the caller accepts failure.

import { runTool, type RunOptions, type ToolResult } from '../../../src/kernel/exec.js';

export type { ToolResult };

export interface CmdOptions extends RunOptions {
  /** Run inside this named network namespace (`ip netns exec <netns> ...`). */
  netns?: string;
}

export class CommandError extends Error {
  override readonly name = 'CommandError';
  constructor(readonly argv: readonly string[], readonly result: ToolResult) {
    super(`${argv.join(' ')}: exit ${result.exitCode}${result.stderr.trim() ? `: ${result.stderr.trim()}` : ''}`);
  }
}

function argvOf(command: string, args: readonly string[], netns?: string): string[] {
  return netns ? ['ip', 'netns', 'exec', netns, command, ...args] : [command, ...args];
}

/** Runs a tool and returns its result whatever the exit code. */
export async function tryCmd(command: string, args: readonly string[] = [], opts: CmdOptions = {}): Promise<ToolResult> {
  const argv = argvOf(command, args, opts.netns);
  return runTool(argv[0]!, argv.slice(1), opts);
}

/** Runs a tool and returns its stdout; throws CommandError on a non-zero exit. */
export async function cmd(command: string, args: readonly string[] = [], opts: CmdOptions = {}): Promise<string> {
  const argv = argvOf(command, args, opts.netns);
  const r = await runTool(argv[0]!, argv.slice(1), opts);
  if (r.exitCode !== 0) throw new CommandError(argv, r);
  return r.stdout;
}

/** True when the test process runs inside the kube-ipvs guest (each ktest file gets a namespace there). */
export function inGuest(): boolean {
  return process.env.KUBE_IPVS_KTEST_NETNS !== undefined;
}
