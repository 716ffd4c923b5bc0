// The command-line parser, with Go pflag's semantics because kube-proxy's DaemonSets pass flags that way:
//   --flag=value, --flag value, -v=2, -v2, -v 2, --v=2;
//   bools: bare --flag is true, --flag=false; "--flag false" leaves "false" as an argument (as pflag does);
//   string lists are comma separated and repeated uses append; other flags: the last use wins;
//   "--" ends the flags. The first argument that is not a flag is the subcommand.
// Values are parsed (and rejected) here; ranges and cross-field rules are checked by validate.ts.
// A table-driven parser rather than node:util parseArgs: parseArgs rejects --bool=false and has no shorthand
// values like -v2, so it would need as much code around it as this.

import { UsageError } from './errors.js';
import { flagByName, flagByShorthand, type FlagSpec, type FlagValue } from './flag-table.js';
import {
  parseCsvList,
  parseDurationValue,
  parseGoBool,
  parseGoFloat,
  parseGoInt,
  parseGoUint32,
  parseIPPortValue,
  parseIPValue,
  parseMapStringBool,
  type ValueResult,
} from './values.js';

export interface ParsedArgs {
  /** The subcommand ("run" when none was given). */
  command: string;
  /** Whether the subcommand was given explicitly. */
  commandGiven: boolean;
  /** Arguments after the subcommand that are not flags (no command takes any today). */
  args: string[];
  /** Parsed values of the flags that were given, by flag name. */
  values: Map<string, FlagValue>;
  /** Flag names in the order they were first given. */
  given: string[];
  /** The text of each flag's last use, as typed (for messages). */
  raw: Map<string, string>;
  /** Deprecation warnings for deprecated flags that were used. */
  warnings: string[];
}

/** The message every bad value produces: names the flag, the value and what is allowed. */
export function invalidFlagValue(flagName: string, value: string, allowed: string): string {
  return `invalid value ${JSON.stringify(value)} for flag --${flagName}: ${allowed}`;
}

function parseValue(spec: FlagSpec, text: string): ValueResult<FlagValue> {
  switch (spec.type) {
    case 'bool':
      return parseGoBool(text);
    case 'string':
      if (spec.values && !spec.values.includes(text)) {
        return { ok: false, allowed: `must be one of ${spec.values.map((v) => JSON.stringify(v)).join(', ')}` };
      }
      return { ok: true, value: text };
    case 'int32':
      return parseGoInt(text, 32);
    case 'float32':
      return parseGoFloat(text);
    case 'duration':
      return parseDurationValue(text);
    case 'strings':
      return parseCsvList(text);
    case 'stringArray':
      return { ok: true, value: [text] };
    case 'ip':
      return parseIPValue(text);
    case 'ipport':
      return parseIPPortValue(text);
    case 'level':
      return parseGoUint32(text);
    case 'mapStringBool':
      return parseMapStringBool(text);
    case 'version':
      return { ok: true, value: text };
  }
}

/** Merges a repeated flag's value the way pflag does: lists append, maps merge, everything else is replaced. */
function merge(spec: FlagSpec, previous: FlagValue | undefined, next: FlagValue): FlagValue {
  if (previous === undefined) return next;
  if (spec.type === 'strings' || spec.type === 'stringArray') return [...(previous as string[]), ...(next as string[])];
  if (spec.type === 'mapStringBool') return { ...(previous as Record<string, boolean>), ...(next as Record<string, boolean>) };
  return next;
}

function isBoolLike(spec: FlagSpec): boolean {
  return spec.type === 'bool' || spec.type === 'version';
}

/**
 * Parses argv (without node and the script). Throws UsageError (exit 2) on an unknown flag, a missing or bad
 * value, or a flag that the subcommand does not accept.
 */
export function parseArgs(argv: readonly string[]): ParsedArgs {
  const values = new Map<string, FlagValue>();
  const raw = new Map<string, string>();
  const given: string[] = [];
  const positionals: string[] = [];
  const errors: string[] = [];
  const warnings: string[] = [];

  const set = (spec: FlagSpec, text: string): void => {
    const r = parseValue(spec, text);
    if (!r.ok) {
      errors.push(invalidFlagValue(spec.name, text, r.allowed));
      return;
    }
    if (!values.has(spec.name)) given.push(spec.name);
    raw.set(spec.name, text);
    values.set(spec.name, merge(spec, values.get(spec.name), r.value));
    if (spec.deprecated && !warnings.some((w) => w.startsWith(`Flag --${spec.name} `))) {
      warnings.push(`Flag --${spec.name} has been deprecated, ${spec.deprecated}`);
    }
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const body = arg.slice(2);
      const eq = body.indexOf('=');
      const name = eq === -1 ? body : body.slice(0, eq);
      const spec = flagByName(name);
      if (!spec || name === '') {
        errors.push(`unknown flag: --${name}`);
        continue;
      }
      if (eq !== -1) set(spec, body.slice(eq + 1));
      else if (isBoolLike(spec)) set(spec, 'true');
      else if (i + 1 < argv.length) set(spec, argv[++i]!);
      else errors.push(`flag needs an argument: --${name}`);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // Shorthands; several bool shorthands may be combined (-hv2 = -h -v 2), as in pflag.
      let rest = arg.slice(1);
      while (rest.length > 0) {
        const letter = rest[0]!;
        const spec = flagByShorthand(letter);
        if (!spec) {
          errors.push(`unknown shorthand flag: '${letter}' in ${arg}`);
          break;
        }
        rest = rest.slice(1);
        if (rest.startsWith('=')) {
          set(spec, rest.slice(1));
          break;
        }
        if (isBoolLike(spec)) {
          set(spec, 'true');
          continue;
        }
        if (rest.length > 0) set(spec, rest);
        else if (i + 1 < argv.length) set(spec, argv[++i]!);
        else errors.push(`flag needs an argument: '${letter}' in ${arg}`);
        break;
      }
      continue;
    }
    positionals.push(arg);
  }

  const commandGiven = positionals.length > 0;
  const command = commandGiven ? positionals[0]! : 'run';
  for (const name of given) {
    const spec = flagByName(name)!;
    if (spec.commands && !spec.commands.includes(command)) {
      errors.push(`flag --${name} is only accepted by: ${spec.commands.map((c) => `kube-ipvs ${c}`).join(', ')}`);
    }
  }
  if (errors.length > 0) throw new UsageError(errors);
  return { command, commandGiven, args: positionals.slice(1), values, given, raw, warnings };
}

/** The parsed value of a flag, or its default from the table (parsed) when it was not given. */
export function flagValue<T extends FlagValue>(parsed: ParsedArgs, name: string): T {
  const v = parsed.values.get(name);
  if (v !== undefined) return v as T;
  const spec = flagByName(name);
  if (!spec) throw new Error(`flagValue: no flag --${name}`);
  if (spec.type === 'strings' || spec.type === 'stringArray') return [] as unknown as T;
  if (spec.type === 'mapStringBool') return {} as T;
  const r = parseValue(spec, spec.default === '' && spec.type !== 'string' ? zeroText(spec) : spec.default);
  if (!r.ok) throw new Error(`flag table: default ${JSON.stringify(spec.default)} of --${name} does not parse`);
  return r.value as T;
}

function zeroText(spec: FlagSpec): string {
  switch (spec.type) {
    case 'bool':
      return 'false';
    case 'version':
      return 'false';
    case 'duration':
      return '0s';
    default:
      return '0';
  }
}

/** True when a flag appears in argv at all (help / version are looked for before anything else is checked). */
export function wantsFlag(argv: readonly string[], name: string, shorthand?: string): boolean {
  for (const arg of argv) {
    if (arg === '--') return false;
    if (arg === `--${name}` || arg.startsWith(`--${name}=`)) {
      const v = arg.slice(name.length + 3);
      return arg.length === name.length + 2 || (v !== 'false' && v !== '0' && v !== 'f' && v !== 'F' && v !== 'FALSE' && v !== 'False');
    }
    if (shorthand && arg === `-${shorthand}`) return true;
  }
  return false;
}

