// Runs an external tool (ipset, iptables-restore, ...) with an argument list, never a shell string,
// feeding its input through stdin. Resolves with exit code and output; never rejects on a non-zero exit
// (callers decide), only when the program cannot be started at all.

import { spawn } from 'node:child_process';

export interface ToolResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  stdin?: string;
  /** Kill the tool after this many milliseconds (default 60 s). */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

export function runTool(command: string, args: readonly string[], opts: RunOptions = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? process.env });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let settled = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        reject(e);
      }
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolve({
        exitCode: code ?? (signal ? 128 : 1),
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8') + (signal ? `\n(killed by ${signal})` : ''),
      });
    });
    // EPIPE when the tool exits before reading all input is reported through its exit code instead.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.stdin ?? '');
  });
}
