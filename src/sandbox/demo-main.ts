// The sandbox demo inside the guest (started by ./demo-host.ts through runInGuest):
//   node demo-main.js --out DIR [--objects FILE]... [--node NAME] [-- kube-ipvs run flags...]
// Runs ./demo-run.ts in the guest's own network namespace and writes its lines to the console with the marks of
// ./demo-report.ts (the console also carries kernel messages; the host prints only marked lines), the result to
// DIR/result.json, kube-ipvs's log to DIR/kube-ipvs.log. Exit 0 when every step behaved, 1 otherwise.

import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { runDemo } from './demo-run.js';
import { blockLines, resultJson, stepLine } from './demo-report.js';

function say(lines: string[]): void {
  // One write per line: a kernel message printed meanwhile then lands between lines, not inside one.
  for (const l of lines) process.stdout.write(l + '\n');
}

async function main(argv: string[]): Promise<number> {
  const dash = argv.indexOf('--');
  const own = dash >= 0 ? argv.slice(0, dash) : argv;
  const runFlags = dash >= 0 ? argv.slice(dash + 1) : [];
  const { values } = parseArgs({
    args: own,
    options: { out: { type: 'string' }, objects: { type: 'string', multiple: true }, node: { type: 'string' } },
    allowPositionals: false,
  });
  const out = values.out ?? '/tmp/kube-ipvs-sandbox';
  mkdirSync(out, { recursive: true });
  const result = await runDemo({
    objectFiles: values.objects ?? [],
    nodeName: values.node,
    runFlags,
    workDir: out,
    reporter: { step: (t) => say([stepLine(t)]), block: (lines) => say(blockLines(lines)) },
  });
  writeFileSync(`${out}/result.json`, resultJson(result));
  if (result.ok) say([stepLine('every step behaved as kube-proxy\'s IPVS mode does')]);
  else say([stepLine(`FAILED: ${result.problems.length} problem(s):`), ...blockLines(result.problems.map((p) => `  - ${p}`))]);
  return result.ok ? 0 : 1;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    say([stepLine(`FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`)]);
    process.exit(1);
  },
);
