// kube-ipvs entry point (bin/kube-ipvs imports this file): parse the command line, then hand over to a subcommand.
// Wiring only. Subcommand modules are imported lazily so a command loads only what it needs: `plan` must never load
// @kubernetes/client-node (seconds of startup in the test guest) or the kernel drivers.
//
// Adding a subcommand: add an entry to COMMANDS below whose `load` imports the module and returns its runner
// `(inv: ResolvedInvocation, io: CommandIO) => number | Promise<number>`; if it takes flags of its own, add them to
// src/cli/flag-table.ts (with `commands: [...]`) so parsing, --help and docs/flags.md know them.

import { writeFileSync } from 'node:fs';
import { isUsageError, UsageError } from './cli/errors.js';
import { flagValue, parseArgs, wantsFlag } from './cli/flags.js';
import { helpText } from './cli/help.js';
import type { CommandIO } from './cli/plan.js';
import { resolveConfig, type ResolvedInvocation } from './cli/resolve.js';
import { versionText } from './cli/version.js';

type CommandRunner = (inv: ResolvedInvocation, io: CommandIO) => number | Promise<number>;

interface CommandEntry {
  load: () => Promise<CommandRunner>;
  /** Whether positional arguments after the command are allowed (kube-proxy takes none). */
  takesArgs?: boolean;
}

function notImplemented(command: string, what: string): CommandRunner {
  return (_inv, io) => {
    io.stderr(`kube-ipvs ${command}: ${what}\n`);
    return 1;
  };
}

const COMMANDS: Record<string, CommandEntry> = {
  // The controller (informers -> desired -> plan -> kernel) until SIGTERM/SIGINT; also --cleanup and --init-only.
  run: { load: async () => (await import('./cli/run.js')).runRun },
  plan: { load: async () => (await import('./cli/plan.js')).runPlan },
  // One full sync of the objects in --objects files against this node's kernel, then exit.
  sync: { load: async () => (await import('./cli/sync.js')).runSync },
  // The kernel's current state (IPVS with counters, kube-ipvs0, KUBE-* sets and chains), as JSON or text.
  dump: { load: async () => (await import('./cli/dump.js')).runDump },
  // Why a Service / endpoint is (not) programmed on this node (objects from --objects files or the API server).
  explain: { load: async () => (await import('./cli/explain.js')).runExplain, takesArgs: true },
  // The demo: a real kernel (user-mode Linux), the embedded API server, pods, kube-ipvs run, real traffic.
  // Its flags are its own: main() hands it argv directly (below).
  sandbox: { load: async () => notImplemented('sandbox', 'must be the first argument: kube-ipvs sandbox [--objects FILE] [-- run flags]') },
  // The embedded API server on its own (tests, demos). Its flags are its own: main() hands it argv directly.
  apiserver: { load: async () => notImplemented('apiserver', 'must be the first argument: kube-ipvs apiserver [--port N] [--objects FILE] [--kubeconfig-out PATH] ...') },
};

const USAGE_HINT = "Run 'kube-ipvs --help' for usage.";

export async function main(argv: readonly string[], io: CommandIO): Promise<number> {
  try {
    // `kube-ipvs apiserver` takes the embedded API server's own flags (--port, --objects, ...), not kube-proxy's.
    if (argv[0] === 'apiserver') {
      const { runApiServerCommand } = await import('./k8s/apiserver/command.js');
      return await runApiServerCommand(argv.slice(1));
    }
    // `kube-ipvs sandbox` takes its own flags (--objects, --verbose, ...); kube-ipvs run's go after `--`.
    if (argv[0] === 'sandbox') {
      const { runSandboxCommand } = await import('./cli/sandbox.js');
      return await runSandboxCommand(argv.slice(1), io);
    }
    // Help first, so it works whatever else is on the command line.
    if (argv[0] === 'help' || wantsFlag(argv, 'help', 'h')) {
      io.stdout(helpText());
      return 0;
    }
    const parsed = parseArgs(argv);
    if (parsed.command === 'help') {
      io.stdout(helpText());
      return 0;
    }
    // verflag.PrintAndExitIfRequested runs after parsing and before the configuration is completed or validated.
    const version = parsed.command === 'version' ? 'true' : flagValue<string>(parsed, 'version');
    if (version === 'true' || version === 'raw') {
      io.stdout(versionText(version));
      return 0;
    }

    const inv = resolveConfig(argv);
    for (const w of inv.warnings) io.stderr(`warning: ${w}\n`);
    const entry = COMMANDS[inv.command];
    if (!entry) throw new UsageError(`unknown command ${JSON.stringify(inv.command)} for "kube-ipvs"; commands: ${Object.keys(COMMANDS).join(', ')}, version, help`);
    if (!entry.takesArgs && inv.args.length > 0) {
      throw new UsageError(`"kube-ipvs ${inv.command}" does not take any arguments, got ${JSON.stringify(inv.args)}`);
    }
    if (inv.options.writeConfigTo !== '') {
      const { kubeProxyConfigurationYaml } = await import('./cli/write-config.js');
      const fromFlag = (inv.parsed.values.get('hostname-override') as string | undefined)?.trim().toLowerCase();
      writeFileSync(inv.options.writeConfigTo, kubeProxyConfigurationYaml(inv.settings, fromFlag || inv.settings.hostnameOverride));
      io.stderr(`kube-ipvs: wrote the configuration to ${inv.options.writeConfigTo}\n`);
      return 0;
    }
    const runner = await entry.load();
    return await runner(inv, io);
  } catch (err) {
    if (isUsageError(err)) {
      for (const m of err.messages) io.stderr(`kube-ipvs: ${m}\n`);
      io.stderr(`${USAGE_HINT}\n`);
      return err.exitCode;
    }
    io.stderr(`kube-ipvs: error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}

const io: CommandIO = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};
process.exitCode = await main(process.argv.slice(2), io);
