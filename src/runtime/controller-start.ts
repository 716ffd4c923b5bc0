// Wires a Controller to the real world: kube-proxy's node setup, the API server (--kubeconfig / --master /
// in-cluster), the three informers and the kernel drivers of this network namespace. Used by `kube-ipvs run`,
// the end-to-end tests and the bench (in-process or as a subprocess, same code).

import type { InformerTiming } from '../k8s/informers.js';
import type { ProxyConfig } from '../model/config.js';
import type { Logger } from '../util/log.js';
import { kubeIpvsVersion } from '../cli/version.js';
import { Controller, type ControllerOptions } from './controller.js';
import { setUpNode } from './controller-node-setup.js';
import { openKernelDrivers } from './syncer-drivers.js';

export interface NodeControllerOptions extends Partial<Omit<ControllerOptions, 'config' | 'informers' | 'drivers' | 'log'>> {
  /** Informer timing (tests shorten the watchdog and backoffs). */
  informerTiming?: InformerTiming;
  /** Skip the OOM score and conntrack sysctls (tests). */
  skipNodeSetup?: boolean;
  /** A failure the controller cannot go on after (--bind-address-hard-fail). */
  onFatal?: (e: Error) => void;
}

export interface RunningController {
  controller: Controller;
  /** Stops the controller and closes the kernel drivers; the kernel is left as it is. */
  stop(): Promise<void>;
}

export async function startNodeController(config: ProxyConfig, log: Logger, opts: NodeControllerOptions = {}): Promise<RunningController> {
  log.info({ version: kubeIpvsVersion(), node: config.hostnameOverride }, 'Version info');
  // The API client is loaded lazily: seconds in the test guest.
  const { loadKubeConfig } = await import('../k8s/kubeconfig.js');
  const { createProxyInformers } = await import('../k8s/informers.js');
  const { kubeConfig, source } = await loadKubeConfig({ kubeconfig: config.kubeconfig, master: config.master });
  log.info({ source, server: kubeConfig.getCurrentCluster()?.server }, 'Using the API server');
  // kube-proxy's ProxyServer.Run: OOM score and conntrack settings once the client configuration is known.
  if (!opts.skipNodeSetup) await setUpNode(config, log.child({ component: 'node-setup' }));
  const informers = await createProxyInformers({
    kubeConfig,
    nodeName: config.hostnameOverride,
    logger: log,
    ...(opts.informerTiming ?? {}),
  });
  const drivers = await openKernelDrivers({ log });
  const { informerTiming: _t, skipNodeSetup: _s, onFatal, ...rest } = opts;
  const controller = new Controller({
    config,
    informers,
    drivers,
    log,
    configz: () => ({ mode: config.mode, nodeName: config.hostnameOverride, ipvs: config.ipvs, syncPeriod: config.syncPeriodMs, minSyncPeriod: config.minSyncPeriodMs }),
    ...rest,
  });
  try {
    await controller.start(onFatal);
  } catch (e) {
    await controller.stop();
    drivers.close();
    throw e;
  }
  return {
    controller,
    stop: async () => {
      await controller.stop();
      drivers.close();
    },
  };
}
