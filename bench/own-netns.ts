// Kernel benches re-run themselves inside a fresh network namespace (lo up), so the caller's IPVS table, sets
// and chains are never touched. The child knows it is the measuring run by the marker variable.
import { spawnSync } from 'node:child_process';

/** Runs `node [nodeArgs] self [this process's args]` in a new netns named `<prefix>-<pid>`; its exit status. */
export function rerunInOwnNetns(self: string, prefix: string, marker: string, nodeArgs: readonly string[] = []): number {
  const ns = `${prefix}-${process.pid}`;
  const ip = (...args: string[]) => spawnSync('ip', args, { stdio: 'inherit' }).status;
  if (ip('netns', 'add', ns) !== 0) return 1;
  try {
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, ...nodeArgs, self, ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, [marker]: ns },
    });
    return r.status ?? 1;
  } finally {
    ip('netns', 'del', ns);
  }
}
