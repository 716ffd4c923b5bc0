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
  // The controller (informers -> desired -> plan -> kernel). TODO(runtime): import the runtime's run command here.
  run: { load: async () => notImplemented('run', 'the controller is not implemented yet') },
  plan: { load: async () => (await import('./cli/plan.js')).runPlan },
  // TODO(sync): one full sync against the kernel, then exit.
  sync: { load: async () => notImplemented('sync', 'not implemented yet') },
  // TODO(dump): read the kernel state; print it with src/cli/format-text.ts (formatNodeStateText) or as JSON.
  dump: { load: async () => notImplemented('dump', 'not implemented yet') },
  // TODO(explain): why a Service / endpoint is (not) programmed.
  explain: { load: async () => notImplemented('explain', 'not implemented yet'), takesArgs: true },
  // TODO(sandbox): the controller against the embedded API server in network namespaces.
  sandbox: { load: async () => notImplemented('sandbox', 'not implemented yet') },
  // TODO(apiserver): the embedded API server on its own.
  apiserver: { load: async () => notImplemented('apiserver', 'not implemented yet') },
};

const USAGE_HINT = "Run 'kube-ipvs --help' for usage.";

export async function main(argv: readonly string[], io: CommandIO): Promise<number> {
  try {
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
