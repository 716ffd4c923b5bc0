// The version kube-ipvs reports (--version, `kube-ipvs version`): package.json's, read once at startup.
// This file runs from dist/src/cli/, so package.json is three levels up.

import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function kubeIpvsVersion(): string {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version?: string };
      cached = pkg.version ? `v${pkg.version}` : 'v0.0.0-unknown';
    } catch {
      cached = 'v0.0.0-unknown';
    }
  }
  return cached;
}

/** What --version prints: "kube-ipvs vX.Y.Z", or with --version=raw a JSON object like kube-proxy's. */
export function versionText(mode: string): string {
  const v = kubeIpvsVersion();
  if (mode === 'raw') {
    return `${JSON.stringify({ gitVersion: v, goVersion: '', compiler: 'tsc', platform: `${process.platform}/${process.arch}`, nodeVersion: process.version }, null, 2)}\n`;
  }
  return `kube-ipvs ${v}\n`;
}
