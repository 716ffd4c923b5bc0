// Opens the kernel drivers a syncer needs, in the current network namespace, and chooses the iptables
// backend. A thin adapter over src/kernel (which it does not change):
//   - IpvsClient (generic netlink), LinkDriver (rtnetlink), IpsetDriver (reads + header-clash replacement),
//     IpsetOpsRunner (op-by-op `ipset restore`, ./executor-ipset.ts), IptablesDriver.
//   - iptables backend: KUBE_IPVS_IPTABLES_BACKEND=legacy|nft|auto (default auto). IptablesDriver's "auto"
//     follows iptables-wrapper (kubelet's hint chains) and falls back to nft when there is no hint. A node
//     without kubelet (a test machine, a sandbox) may have an nf_tables kernel that cannot hold ip/ip6
//     tables (TABLE_ADD "Operation not supported"); iptables-nft-save still reads fine there, so only a
//     write tells. In that one case (no hint at all) we try creating a chain with iptables-nft inside a
//     throwaway network namespace (`unshare --net`, nothing left behind) and use legacy when it fails.

import { runTool } from '../kernel/exec.js';
import { IpsetDriver, type ToolRunner } from '../kernel/ipset.js';
import { IptablesDriver, type IptablesBackend } from '../kernel/iptables.js';
import { IpvsClient } from '../kernel/ipvs/client.js';
import { LinkDriver } from '../kernel/link.js';
import { silentLogger, type Logger } from '../util/log.js';
import { IpsetOpsRunner } from './executor-ipset.js';
import type { ExecutorDrivers } from './executor.js';
import type { ObserveDrivers } from './observe.js';

/** Every driver a sync uses. */
export interface KernelDrivers extends ObserveDrivers, ExecutorDrivers {
  ipvs: ObserveDrivers['ipvs'] & ExecutorDrivers['ipvs'] & Partial<Pick<IpvsClient, 'setTimeouts' | 'transportStats'>>;
  link: ObserveDrivers['link'] & ExecutorDrivers['link'];
  ipset: ObserveDrivers['ipset'] & ExecutorDrivers['ipset'];
  iptables: ObserveDrivers['iptables'] & ExecutorDrivers['iptables'] & Partial<Pick<IptablesDriver, 'hasRandomFully' | 'backend' | 'backendReason'>>;
  close(): void;
}

export type BackendChoice = 'auto' | IptablesBackend;

export interface OpenDriversOptions {
  /** Default: $KUBE_IPVS_IPTABLES_BACKEND, else "auto". */
  iptablesBackend?: BackendChoice;
  log?: Logger;
  run?: ToolRunner;
}

export function backendFromEnv(env: NodeJS.ProcessEnv = process.env): BackendChoice {
  const v = (env.KUBE_IPVS_IPTABLES_BACKEND ?? '').trim().toLowerCase();
  if (v === 'legacy' || v === 'nft') return v;
  return 'auto';
}

/** True when iptables-nft can create a table in this kernel (probed in a throwaway namespace). */
export async function nftUsable(run: ToolRunner = runTool): Promise<boolean> {
  try {
    const r = await run('unshare', ['--net', 'iptables-nft', '-w', '5', '-t', 'filter', '-N', 'KUBE-IPVS-PROBE'], { timeoutMs: 30_000 });
    // unshare itself missing or not permitted: no evidence against nft, keep the wrapper's default.
    if (r.exitCode !== 0 && /unshare:/.test(r.stderr)) return true;
    return r.exitCode === 0;
  } catch {
    return true;
  }
}

export async function openIptablesDriver(choice: BackendChoice, log: Logger, run?: ToolRunner): Promise<IptablesDriver> {
  const base = { log, ...(run ? { run } : {}) };
  const driver = await IptablesDriver.create({ ...base, backend: choice });
  if (choice !== 'auto' || driver.backend !== 'nft' || !/no kubelet hint/.test(driver.backendReason)) return driver;
  if (await nftUsable(run)) return driver;
  log.warn({ reason: driver.backendReason }, 'iptables-nft cannot create tables in this kernel: using iptables-legacy');
  return IptablesDriver.create({ ...base, backend: 'legacy' });
}

/** Opens every driver; closes what was opened when one fails. */
export async function openKernelDrivers(opts: OpenDriversOptions = {}): Promise<KernelDrivers & { iptables: IptablesDriver; ipvs: IpvsClient }> {
  const log = opts.log ?? silentLogger;
  const ipvs = await IpvsClient.open();
  let link: LinkDriver | undefined;
  try {
    link = new LinkDriver({ logger: log.child({ component: 'link' }) });
    const iptables = await openIptablesDriver(opts.iptablesBackend ?? backendFromEnv(), log.child({ component: 'iptables' }), opts.run);
    const ipsetDriver = new IpsetDriver({ log: log.child({ component: 'ipset' }), ...(opts.run ? { run: opts.run } : {}) });
    const runner = new IpsetOpsRunner({
      ...(opts.run ? { run: opts.run } : {}),
      replaceSet: async (name, state) => void (await ipsetDriver.apply({ [name]: state })),
    });
    const l = link;
    return {
      ipvs,
      link: l,
      iptables,
      ipset: { observe: () => ipsetDriver.observe(), apply: (ops, dependants) => runner.apply(ops, dependants) },
      close: () => {
        ipvs.close();
        l.close();
      },
    };
  } catch (e) {
    ipvs.close();
    link?.close();
    throw e;
  }
}
