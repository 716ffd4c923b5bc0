// `kube-ipvs` / `kube-ipvs run`: the node controller, until SIGTERM or SIGINT (then it stops watching and
// serving, leaves the kernel exactly as it is and exits 0). `--cleanup` and `--init-only` are kube-proxy's
// one-shot modes of the same command.

import { applyIpvsSysctls } from '../kernel/sysctl.js';
import { setUpNode } from '../runtime/controller-node-setup.js';
import { createLogger, type Logger } from '../util/log.js';
import type { CommandIO } from './plan.js';
import type { ResolvedInvocation } from './resolve.js';

const STOP_TIMEOUT_MS = 10_000;

/** kube-proxy --init-only: the privileged node setup (sysctls, IPVS timeouts), then exit. */
async function initOnly(inv: ResolvedInvocation, log: Logger, io: CommandIO): Promise<number> {
  const { config } = inv;
  try {
    await setUpNode(config, log);
    await applyIpvsSysctls({ strictARP: config.ipvs.strictARP, logger: log });
    const { tcpTimeoutMs, tcpFinTimeoutMs, udpTimeoutMs } = config.ipvs;
    if (tcpTimeoutMs > 0 || tcpFinTimeoutMs > 0 || udpTimeoutMs > 0) {
      const { IpvsClient } = await import('../kernel/ipvs/client.js');
      const ipvs = await IpvsClient.open();
      try {
        await ipvs.setTimeouts({ tcp: Math.floor(tcpTimeoutMs / 1000), tcpFin: Math.floor(tcpFinTimeoutMs / 1000), udp: Math.floor(udpTimeoutMs / 1000) });
      } finally {
        ipvs.close();
      }
    }
    return 0;
  } catch (e) {
    io.stderr(`kube-ipvs --init-only: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
}

export async function runRun(inv: ResolvedInvocation, io: CommandIO): Promise<number> {
  const { config } = inv;
  if (config.cleanup) return (await import('./cleanup.js')).runCleanup(inv, io);
  const log = createLogger(config.verbosity);
  if (config.initOnly) return initOnly(inv, log, io);

  let fatalError: Error | undefined;
  let wake: () => void = () => {};
  const stopRequested = new Promise<string>((resolve) => {
    const onSignal = (sig: NodeJS.Signals) => resolve(sig);
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    wake = () => resolve('fatal');
  });

  const { startNodeController } = await import('../runtime/controller-start.js');
  let running;
  try {
    running = await startNodeController(config, log, {
      onFatal: (e) => {
        fatalError = e;
        wake();
      },
    });
  } catch (e) {
    io.stderr(`kube-ipvs: cannot start: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  const why = await stopRequested;
  log.info({ reason: why }, 'Shutting down');
  // A sync in progress is allowed to finish (its writes are idempotent either way), within limits: the kubelet
  // SIGKILLs after the grace period anyway, and the next start heals whatever was left half done.
  const stopped = running.stop().then(() => true);
  const timedOut = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_TIMEOUT_MS).unref());
  if (!(await Promise.race([stopped, timedOut]))) log.warn({ timeoutMs: STOP_TIMEOUT_MS }, 'A sync was still running at shutdown; exiting without waiting for it');
  // Anything still holding the event loop (a socket a library forgot) must not keep a stopped proxy around.
  setTimeout(() => process.exit(process.exitCode ?? 0), 3000).unref();
  if (fatalError) {
    io.stderr(`kube-ipvs: ${fatalError.message}\n`);
    return 1;
  }
  return 0;
}
