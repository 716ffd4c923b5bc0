// The one entry point the rest of kube-ipvs uses to understand its command line:
//   resolveConfig(argv) -> { command, config: ProxyConfig, options, warnings }
// It follows kube-proxy's Options.Complete / Validate (cmd/kube-proxy/app/options.go):
//   - without --config: kube-proxy's defaults, then every flag that was given (processV1Alpha1Flags: the
//     --ipvs-*sync-period flags apply in ipvs mode, --cluster-cidr is split on commas, --healthz-port /
//     --metrics-port fill in or disable the server addresses);
//   - with --config: the file, defaulted; the flags kube-proxy ignores then are reported as warnings; the logging
//     flags, --hostname-override, --master, --cleanup, --init-only and kube-ipvs' own flags still apply;
//   - then validation; every problem is reported at once (UsageError, exit 2).
// Reading the config file and the OS hostname are the only I/O, both injectable for tests.

import { hostname as osHostname } from 'node:os';
import { readFileSync } from 'node:fs';
import type { ProxyConfig } from '../model/config.js';
import { canonicalIP } from '../model/ip.js';
import { CONFIG_KIND, loadConfigFile, type LoadedConfig } from './config-file.js';
import { formatGoDuration } from './duration.js';
import { UsageError } from './errors.js';
import { flagByName, flagForConfigField } from './flag-table.js';
import { flagValue, invalidFlagValue, parseArgs, type ParsedArgs } from './flags.js';
import { appendPortIfNeeded, flagDefaults, toProxyConfig, type KubeProxySettings } from './kube-proxy-settings.js';
import { validateSettings, type Problem } from './validate.js';

export type OutputFormat = 'json' | 'text';

export interface CliOptions {
  /** --config ("" = flags only). */
  configFile: string;
  /** --write-config-to ("" = not asked). */
  writeConfigTo: string;
  /** --objects files, in order. */
  objects: string[];
  /** --node-addresses, canonical text. */
  nodeAddresses: string[];
  /** --output. */
  output: OutputFormat;
}

export interface ResolvedInvocation {
  /** The subcommand: "run" when none was given. */
  command: string;
  commandGiven: boolean;
  /** Positional arguments after the subcommand. */
  args: string[];
  config: ProxyConfig;
  /** kube-proxy's internal configuration the ProxyConfig was made from (for --write-config-to). */
  settings: KubeProxySettings;
  options: CliOptions;
  /** Things the operator should know but that do not stop kube-ipvs (deprecated or ignored flags, unknown fields). */
  warnings: string[];
  parsed: ParsedArgs;
}

export interface ResolveEnv {
  hostname: () => string;
  readFile: (path: string) => string;
}

const defaultEnv: ResolveEnv = { hostname: osHostname, readFile: (p) => readFileSync(p, 'utf8') };

/** Renders a validation problem for the place its value came from: the config file, or the flag that set it. */
function renderProblem(p: Problem, parsed: ParsedArgs, loaded: LoadedConfig | undefined, configFile: string): string {
  const bare = p.path.replace(/\[\d+\]$/, '');
  const indexed = bare !== p.path;
  if (loaded) {
    const line = loaded.lines.get(bare);
    const where = line ? `${configFile}:${line}: ` : `${configFile}: `;
    const related = p.related ? `${CONFIG_KIND}.${p.related}` : '';
    // Numbers and durations are shown as written ("90s", not "1m30s"); strings are shown as the problem has them,
    // which for lists and comma-separated values is the offending element.
    const field = loaded.fields.get(bare);
    const value = !indexed && field !== undefined && typeof field.value === 'number' ? field.text : p.value;
    return `${where}${CONFIG_KIND}.${p.path}: invalid value ${JSON.stringify(value)}: ${p.message.replace('%s', related)}`;
  }
  const flag = flagForConfigField(bare);
  if (!flag) return `${CONFIG_KIND}.${p.path}: invalid value ${JSON.stringify(p.value)}: ${p.message}`;
  const relatedFlag = p.related ? flagForConfigField(p.related) : undefined;
  const related = relatedFlag ? `--${relatedFlag.name}` : (p.related ?? '');
  const numeric = ['duration', 'int32', 'float32', 'level'].includes(flag.type);
  const value = !indexed && numeric && parsed.raw.has(flag.name) ? parsed.raw.get(flag.name)! : p.value;
  return invalidFlagValue(flag.name, value, p.message.replace('%s', related));
}

/** Applies the flags given on the command line onto kube-proxy's flag defaults (flags-only mode). */
function settingsFromFlags(parsed: ParsedArgs, warnings: string[]): KubeProxySettings {
  const s = flagDefaults();
  // kube-proxy binds --proxy-mode before processV1Alpha1Flags looks at it, whatever the order on the command line.
  const mode = parsed.values.get('proxy-mode');
  if (mode !== undefined) flagByName('proxy-mode')!.apply!(s, mode);
  for (const name of parsed.given) {
    const spec = flagByName(name)!;
    if (name === 'proxy-mode' || !spec.apply) continue;
    spec.apply(s, parsed.values.get(name)!);
  }
  for (const name of ['iptables-sync-period', 'iptables-min-sync-period']) {
    if (parsed.values.has(name)) {
      warnings.push(`flag --${name} has no effect in kube-ipvs (kube-proxy applies it only outside IPVS mode); use --${name.replace('iptables', 'ipvs')}`);
    }
  }
  // addressFromDeprecatedFlags: port 0 disables the server, otherwise the port is appended when missing.
  const healthzPort = flagValue<number>(parsed, 'healthz-port');
  const metricsPort = flagValue<number>(parsed, 'metrics-port');
  s.healthzBindAddress = healthzPort === 0 ? '' : appendPortIfNeeded(s.healthzBindAddress, healthzPort);
  s.metricsBindAddress = metricsPort === 0 ? '' : appendPortIfNeeded(s.metricsBindAddress, metricsPort);
  return s;
}

/** Loads --config and applies the flags that still count, warning about the ones kube-proxy would ignore. */
function settingsFromConfigFile(parsed: ParsedArgs, configFile: string, env: ResolveEnv, warnings: string[]): LoadedConfig {
  const loaded = loadConfigFile(configFile, env.readFile);
  warnings.push(...loaded.warnings);
  for (const name of parsed.given) {
    const spec = flagByName(name)!;
    if (spec.origin !== 'kube-proxy') continue;
    if (spec.withConfig === 'ignored') {
      const field = spec.configField ? `; set ${spec.configField} in ${configFile} instead` : '';
      warnings.push(`flag --${name} is ignored because --config is set (as in kube-proxy)${field}`);
    } else if (spec.apply && spec.group === 'logging') {
      // copyLogsFromFlags: logging flags given on the command line win over the file.
      spec.apply(loaded.settings, parsed.values.get(name)!);
    }
  }
  return loaded;
}

/** The node name, as kube-proxy's processHostnameOverrideFlag + nodeutil.GetHostname compute it. */
function resolveNodeName(parsed: ParsedArgs, s: KubeProxySettings, loaded: LoadedConfig | undefined, configFile: string, env: ResolveEnv, errors: string[]): string {
  let override = s.hostnameOverride;
  const fromFlag = parsed.values.get('hostname-override') as string | undefined;
  if (fromFlag !== undefined && fromFlag.length > 0) {
    const trimmed = fromFlag.trim();
    if (trimmed === '') {
      errors.push(invalidFlagValue('hostname-override', fromFlag, 'empty hostname-override is invalid'));
      return '';
    }
    override = trimmed.toLowerCase();
  }
  if (override.length > 0) {
    const trimmed = override.trim();
    if (trimmed === '') {
      const line = loaded?.lines.get('hostnameOverride');
      errors.push(`${configFile}${line ? `:${line}` : ''}: ${CONFIG_KIND}.hostnameOverride: invalid value ${JSON.stringify(override)}: empty hostname is invalid`);
      return '';
    }
    return trimmed.toLowerCase();
  }
  const host = env.hostname().trim();
  if (host === '') {
    errors.push('the OS hostname is empty: set --hostname-override to this node\'s name');
    return '';
  }
  return host.toLowerCase();
}

/**
 * Parses and resolves the command line. Throws UsageError (exit code 2) listing every problem: unknown flags,
 * bad values, an unreadable or invalid config file, validation failures.
 */
export function resolveConfig(argv: readonly string[], envIn: Partial<ResolveEnv> = {}): ResolvedInvocation {
  const env: ResolveEnv = { ...defaultEnv, ...envIn };
  const parsed = parseArgs(argv);
  const warnings = [...parsed.warnings];
  const errors: string[] = [];
  const configFile = flagValue<string>(parsed, 'config');

  let loaded: LoadedConfig | undefined;
  let settings: KubeProxySettings;
  if (configFile !== '') {
    loaded = settingsFromConfigFile(parsed, configFile, env, warnings);
    settings = loaded.settings;
  } else {
    settings = settingsFromFlags(parsed, warnings);
  }
  for (const p of validateSettings(settings)) errors.push(renderProblem(p, parsed, loaded, configFile));

  const gracefulMs = flagValue<number>(parsed, 'ipvs-graceful-termination-period');
  if (gracefulMs < 0) {
    errors.push(invalidFlagValue('ipvs-graceful-termination-period', parsed.raw.get('ipvs-graceful-termination-period') ?? formatGoDuration(gracefulMs), 'must be greater than or equal to 0'));
  }
  const nodeAddresses: string[] = [];
  for (const a of flagValue<string[]>(parsed, 'node-addresses')) {
    const c = canonicalIP(a.trim());
    if (c === undefined) errors.push(invalidFlagValue('node-addresses', a, 'must be a comma-separated list of IP addresses'));
    else if (!nodeAddresses.includes(c)) nodeAddresses.push(c);
  }
  const nodeName = resolveNodeName(parsed, settings, loaded, configFile, env, errors);
  if (errors.length > 0) throw new UsageError(errors);

  const config = toProxyConfig(settings, {
    nodeName,
    master: flagValue<string>(parsed, 'master'),
    cleanup: flagValue<boolean>(parsed, 'cleanup'),
    initOnly: flagValue<boolean>(parsed, 'init-only'),
    gracefulTerminationPeriodMs: gracefulMs,
  });
  return {
    command: parsed.command,
    commandGiven: parsed.commandGiven,
    args: parsed.args,
    config,
    settings,
    options: {
      configFile,
      writeConfigTo: flagValue<string>(parsed, 'write-config-to'),
      objects: flagValue<string[]>(parsed, 'objects'),
      nodeAddresses,
      output: flagValue<OutputFormat>(parsed, 'output'),
    },
    warnings,
    parsed,
  };
}

