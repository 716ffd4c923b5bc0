// charts/kube-ipvs through a real helm binary: `helm lint --strict`, `helm template` with default and
// custom values (every rendered object validated like deploy/, the DaemonSet compared with deploy/'s),
// and values.schema.json enforced by helm itself. Skipped, with the reason, where no helm is installed
// (the development machines have none: charts/ is then covered only by chart.test.ts, without rendering).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { CHART_PATH } from './chart-files.js';
import { validateKubernetesObject } from './k8s-schema.js';
import { EXPECTED_GRANTS, grants } from './rbac.js';
import { REPO_ROOT, dig, parseYamlDocuments, readRepoFile, type Json, type JsonObject } from './repo.js';

function helm(args: string[]): { status: number | null; stdout: string; stderr: string; error?: Error } {
  const r = spawnSync('helm', args, { cwd: REPO_ROOT, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

const probe = helm(['version', '--short']);
const HELM_MISSING =
  probe.error !== undefined || probe.status !== 0
    ? 'no helm binary on PATH on this machine: helm lint and helm template were not run (chart.test.ts checks the chart statically)'
    : undefined;

function skipWithoutHelm(t: TestContext): boolean {
  if (HELM_MISSING === undefined) return false;
  t.skip(HELM_MISSING);
  return true;
}

/** `helm template` with the release name and namespace the docs use, plus optional values. */
function render(values?: Json): JsonObject[] {
  const args = ['template', 'kube-ipvs', CHART_PATH, '--namespace', 'kube-system'];
  let dir: string | undefined;
  if (values !== undefined) {
    dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-helm-'));
    writeFileSync(join(dir, 'values.json'), JSON.stringify(values));
    args.push('--values', join(dir, 'values.json'));
  }
  try {
    const r = helm(args);
    assert.equal(r.status, 0, r.stderr);
    return parseYamlDocuments(r.stdout, 'helm template');
  } finally {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  }
}

/** A DaemonSet's pod spec without what legitimately differs between the chart and deploy/. */
function comparablePodSpec(ds: JsonObject): JsonObject {
  const pod = structuredClone(dig(ds, 'spec', 'template', 'spec')) as JsonObject;
  const c = (pod['containers'] as JsonObject[])[0]!;
  delete c['image'];
  // deploy/ reads the API server address from an optional ConfigMap, the chart from values.
  c['env'] = (c['env'] as JsonObject[]).filter((e) => !String(e['name']).startsWith('KUBERNETES_SERVICE_'));
  return pod;
}

describe('charts/kube-ipvs with helm', () => {
  it('helm lint --strict passes', (t) => {
    if (skipWithoutHelm(t)) return;
    const r = helm(['lint', '--strict', CHART_PATH]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('helm template renders valid objects equal in substance to deploy/', async (t) => {
    if (skipWithoutHelm(t)) return;
    const objs = render();
    assert.deepEqual(objs.map((o) => o['kind']).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'ServiceAccount']);
    for (const obj of objs) assert.deepEqual(await validateKubernetesObject(obj), []);
    const role = objs.find((o) => o['kind'] === 'ClusterRole')!;
    assert.deepEqual(grants(role['rules']), EXPECTED_GRANTS);
    const ds = objs.find((o) => o['kind'] === 'DaemonSet')!;
    const [deployDs] = parseYamlDocuments(readRepoFile('deploy', 'daemonset.yaml'), 'deploy/daemonset.yaml');
    assert.deepEqual(comparablePodSpec(ds), comparablePodSpec(deployDs!));
    const version = JSON.parse(readRepoFile('package.json')).version as string;
    assert.equal(dig(ds, 'spec', 'template', 'spec', 'containers', 0, 'image'), `kube-ipvs:${version}`);
  });

  it('helm template carries custom values into the DaemonSet', async (t) => {
    if (skipWithoutHelm(t)) return;
    const objs = render({
      image: { repository: 'registry.example/kube-ipvs', tag: '9.9.9' },
      apiServer: { host: '192.0.2.10', port: 6443 },
      healthzBindAddress: '0.0.0.0:20256',
      extraArgs: ['--v=2'],
      tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'edge', effect: 'NoSchedule' }],
    });
    for (const obj of objs) assert.deepEqual(await validateKubernetesObject(obj), []);
    const c = dig(objs.find((o) => o['kind'] === 'DaemonSet'), 'spec', 'template', 'spec', 'containers', 0) as JsonObject;
    assert.equal(c['image'], 'registry.example/kube-ipvs:9.9.9');
    assert.ok((c['args'] as string[]).includes('--v=2'));
    const env = c['env'] as JsonObject[];
    assert.deepEqual(env.find((e) => e['name'] === 'KUBERNETES_SERVICE_HOST'), { name: 'KUBERNETES_SERVICE_HOST', value: '192.0.2.10' });
    assert.deepEqual(env.find((e) => e['name'] === 'KUBERNETES_SERVICE_PORT'), { name: 'KUBERNETES_SERVICE_PORT', value: '6443' });
    assert.equal(dig(c, 'livenessProbe', 'httpGet', 'port'), 20256);
    assert.equal(dig(c, 'readinessProbe', 'httpGet', 'port'), 20256);
  });

  it('helm itself rejects values the schema forbids', (t) => {
    if (skipWithoutHelm(t)) return;
    for (const set of ['scheduler=round-robin', 'syncPeriod=0s', 'excludeCIDRs={10.0.0.0}']) {
      const r = helm(['template', 'kube-ipvs', CHART_PATH, '--namespace', 'kube-system', '--set', set]);
      assert.notEqual(r.status, 0, `helm accepted --set ${set}`);
    }
  });
});
