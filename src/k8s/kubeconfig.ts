// Where kube-ipvs finds its API server, with kube-proxy's flags (--kubeconfig, --master):
//   --kubeconfig FILE           -> that file (its current context); --master, if also given, overrides the server
//   --master URL alone          -> that server without credentials (as kube-proxy's client config does)
//   neither, in a pod           -> in-cluster service account (KUBERNETES_SERVICE_HOST/PORT, token, CA)
//   neither, outside a cluster  -> client-node's defaults ($KUBECONFIG, ~/.kube/config, ...)
// client-node is imported lazily: importing it costs seconds inside the test guest, and subcommands
// that never talk to an API server (plan from files, cleanup) should not pay for it.

import type { Cluster, KubeConfig } from '@kubernetes/client-node';

export interface KubeConfigFlags {
  kubeconfig?: string;
  master?: string;
}

export type KubeConfigSource = 'kubeconfig' | 'master' | 'in-cluster' | 'default';

export function kubeConfigSource(flags: KubeConfigFlags, env: NodeJS.ProcessEnv = process.env): KubeConfigSource {
  if (flags.kubeconfig) return 'kubeconfig';
  if (flags.master) return 'master';
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) return 'in-cluster';
  return 'default';
}

export async function loadKubeConfig(flags: KubeConfigFlags): Promise<{ kubeConfig: KubeConfig; source: KubeConfigSource }> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kc = new KubeConfig();
  const source = kubeConfigSource(flags);
  switch (source) {
    case 'kubeconfig':
      kc.loadFromFile(flags.kubeconfig!);
      break;
    case 'master':
      kc.loadFromClusterAndUser({ name: 'master', server: flags.master!, skipTLSVerify: false }, { name: 'master' });
      break;
    case 'in-cluster':
      kc.loadFromCluster();
      break;
    case 'default':
      kc.loadFromDefault();
      break;
  }
  const current = kc.getCurrentCluster();
  if (!current) throw new Error(`no current cluster in the ${source} configuration${flags.kubeconfig ? ` (${flags.kubeconfig})` : ''}`);
  if (flags.master && source === 'kubeconfig') replaceCluster(kc, current, { ...current, server: flags.master });
  // client-node refuses http:// servers unless skipTLSVerify is set, although there is no TLS to skip.
  const after = kc.getCurrentCluster()!;
  if (after.server.startsWith('http:') && !after.skipTLSVerify) replaceCluster(kc, after, { ...after, skipTLSVerify: true });
  return { kubeConfig: kc, source };
}

function replaceCluster(kc: KubeConfig, old: Cluster, next: Cluster): void {
  kc.loadFromOptions({
    clusters: kc.clusters.map((c) => (c === old ? next : c)),
    contexts: kc.contexts,
    users: kc.users,
    currentContext: kc.currentContext,
  });
}
