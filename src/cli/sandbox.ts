// `kube-ipvs sandbox`: the demo a newcomer runs first (`make demo`). Its flags are its own (main() hands it argv,
// as for `kube-ipvs apiserver`); flags after `--` go to the `kube-ipvs run` inside the sandbox.
// The work is in src/sandbox/demo-*.ts; this file is the argument handling and the help.

import { UsageError } from './errors.js';

export const SANDBOX_USAGE = `Usage: kube-ipvs sandbox [--objects FILE]... [--hostname-override NODE] [--verbose] [--keep]
                         [-- kube-ipvs run flags...]

Boots a real Linux 6.1 kernel with IPVS (user-mode Linux: no VM, no root file system image), and inside it:
starts an embedded Kubernetes API server with example objects, starts each pod as a network namespace with a
small HTTP server that answers with its pod name, runs \`kube-ipvs run\` against the API server, and shows, from
the real system: the IPVS table (as \`kube-ipvs dump --output text\` prints it), requests through every
virtual server and which pod answered them, the health check node ports, a scale-down and a scale-up of one
Service while requests flow (with the number of failed requests), and a clean exit. Needs the Debian package
user-mode-linux (scripts/setup.sh installs it). Exit 0 when every step behaved as kube-proxy's IPVS mode does,
1 when one did not (the problems are listed), 2 for bad arguments.

The example objects (src/sandbox/demo-objects.yaml): a ClusterIP Service with three pods, one with session
affinity (ClientIP) on the same pods, a NodePort Service, and a LoadBalancer with externalTrafficPolicy Local,
an ingress IP and a healthCheckNodePort, one of whose two endpoints is on another node.

Flags:
  --objects FILE             Your own Services and EndpointSlices (and Nodes) instead of the examples: YAML
                             (one or many documents, kind: List) or JSON, as \`kubectl get -o yaml\` prints
                             them. Repeat for several files. What is supported:
                             - Services of every type (ClusterIP, NodePort, LoadBalancer with
                               status.loadBalancer.ingress IPs, externalIPs), session affinity, traffic
                               policies, healthCheckNodePort, kube-ipvs's scheduler annotations;
                             - EndpointSlices of addressType IPv4 or IPv6: every endpoint address becomes a
                               pod on the sandbox node, whatever its nodeName (nodeName still decides which
                               endpoints are local for the traffic policies); endpoints with the same
                               targetRef are one pod; a pod serves HTTP on the slice's TCP ports and answers
                               UDP on its UDP ports (SCTP ports get no server);
                             - unset ClusterIPs and node ports are allocated by the API server
                               (10.96.0.0/12, 30000-32767).
                             The node's addresses are fixed: 192.168.50.1 (the outside client is
                             192.168.50.2) and 10.244.0.1 on the pod bridge; endpoint addresses outside
                             10.244.0.0/24 get host routes. Pods, ClusterIPs are requested from the node,
                             NodePorts, load-balancer and external IPs from the outside client.
  --hostname-override NODE   The node kube-ipvs runs as (default: the only Node in the objects, else the
                             node most endpoints name, else sandbox-node). A Node object is added when the
                             objects have none of that name.
  --verbose                  Print the whole guest console (kernel messages included).
  --keep                     Keep the work folder (guest console, kube-ipvs's log, result.json) on success;
                             it is always kept on failure.
  -h, --help                 This help.
  -- FLAGS...                Passed to \`kube-ipvs run\` in the sandbox (kube-proxy's flags), e.g.
                             -- --ipvs-scheduler lc --v 2
`;

export interface SandboxArgs {
  help: boolean;
  objectFiles: string[];
  nodeName?: string;
  verbose: boolean;
  keep: boolean;
  runFlags: string[];
}

/** Parses `kube-ipvs sandbox` arguments (everything after the word "sandbox"). Throws UsageError. */
export function parseSandboxArgs(argv: readonly string[]): SandboxArgs {
  const out: SandboxArgs = { help: false, objectFiles: [], verbose: false, keep: false, runFlags: [] };
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.runFlags = argv.slice(i + 1);
      break;
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const name = eq > 0 ? a.slice(0, eq) : a;
    const inline = eq > 0 ? a.slice(eq + 1) : undefined;
    const value = (): string | undefined => {
      if (inline !== undefined) return inline;
      const v = argv[i + 1];
      if (v === undefined || (v.startsWith('-') && v !== '-')) {
        problems.push(`${name} needs a value`);
        return undefined;
      }
      i++;
      return v;
    };
    const noValue = () => {
      if (inline !== undefined) problems.push(`${name} takes no value`);
    };
    switch (name) {
      case '-h':
      case '--help':
        out.help = true;
        break;
      case '--objects': {
        const v = value();
        if (v === '') problems.push('--objects needs a file name');
        else if (v !== undefined) out.objectFiles.push(v);
        break;
      }
      case '--hostname-override': {
        const v = value()?.trim().toLowerCase();
        if (v === '') problems.push('--hostname-override needs a node name');
        else if (v !== undefined) out.nodeName = v;
        break;
      }
      case '--verbose':
        noValue();
        out.verbose = true;
        break;
      case '--keep':
        noValue();
        out.keep = true;
        break;
      default:
        problems.push(a.startsWith('-')
          ? `unknown flag ${name} (flags for kube-ipvs run go after --: kube-ipvs sandbox -- ${a})`
          : `unexpected argument ${JSON.stringify(a)}`);
    }
  }
  if (problems.length && !out.help) throw new UsageError(problems.map((p) => `sandbox: ${p}`));
  return out;
}

export interface SandboxIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

/** Returns the exit code. */
export async function runSandboxCommand(argv: readonly string[], io: SandboxIO): Promise<number> {
  let args: SandboxArgs;
  try {
    args = parseSandboxArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    for (const m of e.messages) io.stderr(`kube-ipvs ${m}\n`);
    io.stderr("Run 'kube-ipvs sandbox --help' for usage.\n");
    return 2;
  }
  if (args.help) {
    io.stdout(SANDBOX_USAGE);
    return 0;
  }
  // Loaded only now: --help and bad arguments need none of it.
  const { runSandbox } = await import('../sandbox/demo-host.js');
  return runSandbox({
    objectFiles: args.objectFiles,
    nodeName: args.nodeName,
    runFlags: args.runFlags,
    verbose: args.verbose,
    keep: args.keep,
    print: (line) => io.stdout(`${line}\n`),
    printError: (line) => io.stderr(`${line}\n`),
  });
}
