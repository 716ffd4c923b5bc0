// A kubeconfig pointing at the embedded API server. The server is plain HTTP, and client-node refuses
// an http:// server unless the cluster has insecure-skip-tls-verify set (there is no TLS to verify).

import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { stringify } from 'yaml';

export const EMBEDDED_CONTEXT = 'kube-ipvs-embedded';

export function kubeconfigYaml(serverUrl: string, namespace = 'default'): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: EMBEDDED_CONTEXT, cluster: { server: serverUrl, 'insecure-skip-tls-verify': true } }],
    // A token user: client-node applies TLS/auth options only when the context has a user.
    users: [{ name: EMBEDDED_CONTEXT, user: { token: 'embedded' } }],
    contexts: [{ name: EMBEDDED_CONTEXT, context: { cluster: EMBEDDED_CONTEXT, user: EMBEDDED_CONTEXT, namespace } }],
    'current-context': EMBEDDED_CONTEXT,
    preferences: {},
  });
}

/** Written atomically (temp file + rename), so a script can poll for the file as a readiness signal. */
export function writeKubeconfigFile(path: string, serverUrl: string, namespace?: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, kubeconfigYaml(serverUrl, namespace), { mode: 0o600 });
  renameSync(tmp, path);
}
