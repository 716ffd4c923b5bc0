// deploy/: every manifest is a valid Kubernetes object of a known kind, the RBAC grants exactly what
// kube-ipvs uses, and the DaemonSet has what a node-level service proxy needs (docs/operations.md).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { validateKubernetesObject } from './k8s-schema.js';
import { EXPECTED_GRANTS, grants } from './rbac.js';
import { REPO_ROOT, dig, listRepoFiles, parseYamlDocuments, readRepoFile, type Json, type JsonObject } from './repo.js';

const NAMESPACE = 'kube-system';

function loadDeploy(): { file: string; obj: JsonObject }[] {
  const out: { file: string; obj: JsonObject }[] = [];
  for (const file of listRepoFiles('deploy', ['.yaml', '.yml'])) {
    if (file === 'kustomization.yaml') continue;
    for (const obj of parseYamlDocuments(readRepoFile('deploy', file), `deploy/${file}`)) out.push({ file, obj });
  }
  return out;
}

function findOne(objs: { obj: JsonObject }[], kind: string): JsonObject {
  const found = objs.filter((o) => o.obj['kind'] === kind);
  assert.equal(found.length, 1, `exactly one ${kind} in deploy/`);
  return found[0]!.obj;
}

describe('deploy/ manifests', () => {
  const objs = loadDeploy();

  it('are the five expected objects', () => {
    assert.deepEqual(objs.map((o) => `${o.obj['kind']}`).sort(), ['ClusterRole', 'ClusterRoleBinding', 'ConfigMap', 'DaemonSet', 'ServiceAccount']);
  });

  it('each validates against the Kubernetes schema of its kind, with no unknown field', async () => {
    for (const { file, obj } of objs) {
      assert.deepEqual(await validateKubernetesObject(obj), [], `deploy/${file}`);
    }
  });

  it('the validator rejects what it should (unknown kind, schema error, unknown field)', async () => {
    const ds = structuredClone(findOne(objs, 'DaemonSet'));
    assert.match((await validateKubernetesObject({ ...ds, kind: 'DaemonSett' })).join('\n'), /unknown kind apps\/v1\/DaemonSett/);
    assert.match((await validateKubernetesObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } })).join('\n'), /unknown kind/);
    const badPort = structuredClone(ds);
    (dig(badPort, 'spec', 'template', 'spec', 'containers', 0, 'ports', 0) as JsonObject)['containerPort'] = 'healthz';
    assert.match((await validateKubernetesObject(badPort)).join('\n'), /containerPort must be integer/);
    const typo = structuredClone(ds);
    (dig(typo, 'spec', 'template', 'spec', 'containers', 0, 'volumeMounts', 0) as JsonObject)['readonly'] = true;
    assert.deepEqual(await validateKubernetesObject(typo), ['DaemonSet kube-ipvs.spec.template.spec.containers[0].volumeMounts[0].readonly: unknown field']);
  });

  it('namespaced objects live in kube-system, names are kube-ipvs, labels are shared', () => {
    for (const { file, obj } of objs) {
      const meta = obj['metadata'] as JsonObject;
      assert.equal(meta['name'], 'kube-ipvs', file);
      const clusterScoped = obj['kind'] === 'ClusterRole' || obj['kind'] === 'ClusterRoleBinding';
      assert.equal(meta['namespace'], clusterScoped ? undefined : NAMESPACE, file);
      assert.equal(dig(meta, 'labels', 'app.kubernetes.io/name'), 'kube-ipvs', file);
    }
  });

  it('the ClusterRole grants exactly the reads and event writes kube-ipvs needs', () => {
    const role = findOne(objs, 'ClusterRole');
    assert.deepEqual(grants(role['rules']), EXPECTED_GRANTS);
    const text = JSON.stringify(role['rules']);
    assert.ok(!text.includes('*'), 'no wildcards');
    assert.ok(!text.includes('secrets'), 'no secrets');
    assert.equal(role['aggregationRule'], undefined);
  });

  it('the grant check catches an extra permission', () => {
    const rules = [...(findOne(objs, 'ClusterRole')['rules'] as Json[]), { apiGroups: [''], resources: ['secrets'], verbs: ['get'] }];
    assert.notDeepEqual(grants(rules), EXPECTED_GRANTS);
  });

  it('the ClusterRoleBinding binds the ClusterRole to the ServiceAccount the DaemonSet uses', () => {
    const binding = findOne(objs, 'ClusterRoleBinding');
    const sa = findOne(objs, 'ServiceAccount');
    const ds = findOne(objs, 'DaemonSet');
    assert.deepEqual(binding['roleRef'], { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: dig(findOne(objs, 'ClusterRole'), 'metadata', 'name') as string });
    assert.deepEqual(binding['subjects'], [{ kind: 'ServiceAccount', name: dig(sa, 'metadata', 'name') as string, namespace: NAMESPACE }]);
    assert.equal(dig(ds, 'spec', 'template', 'spec', 'serviceAccountName'), dig(sa, 'metadata', 'name'));
  });

  describe('the DaemonSet', () => {
    const ds = findOne(objs, 'DaemonSet');
    const pod = dig(ds, 'spec', 'template', 'spec') as JsonObject;
    const containers = pod['containers'] as JsonObject[];
    const c = containers[0]!;

    it('runs one privileged container in the host network namespace', () => {
      assert.equal(containers.length, 1);
      assert.equal(pod['hostNetwork'], true);
      assert.deepEqual(c['securityContext'], { privileged: true });
      assert.equal(pod['initContainers'], undefined);
    });

    it('uses the node resolver, not cluster DNS (a Service it must program first)', () => {
      assert.equal(pod['dnsPolicy'], 'Default');
    });

    it('is node-critical, tolerates every taint, runs on Linux nodes only', () => {
      assert.equal(pod['priorityClassName'], 'system-node-critical');
      assert.deepEqual(pod['tolerations'], [{ operator: 'Exists' }]);
      assert.deepEqual(pod['nodeSelector'], { 'kubernetes.io/os': 'linux' });
    });

    it('rolls one node at a time', () => {
      assert.deepEqual(dig(ds, 'spec', 'updateStrategy'), { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } });
      const selector = dig(ds, 'spec', 'selector', 'matchLabels') as JsonObject;
      const labels = dig(ds, 'spec', 'template', 'metadata', 'labels') as JsonObject;
      for (const [k, v] of Object.entries(selector)) assert.equal(labels[k], v, `template carries selector label ${k}`);
    });

    it('passes the node name from the downward API and the config file as flags', () => {
      const args = c['args'] as string[];
      assert.ok(args.includes('--hostname-override=$(NODE_NAME)'), args.join(' '));
      assert.ok(args.includes('--config=/var/lib/kube-ipvs/config.conf'), args.join(' '));
      assert.equal(c['command'], undefined, 'the image ENTRYPOINT (kube-ipvs) is used');
      const env = c['env'] as JsonObject[];
      const nodeName = env.find((e) => e['name'] === 'NODE_NAME');
      assert.deepEqual(nodeName, { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
      // $(NODE_NAME) only expands when NODE_NAME is defined before use in env; it is, and nothing shadows it.
      assert.equal(env.filter((e) => e['name'] === 'NODE_NAME').length, 1);
    });

    it('can be pointed at the real API server address (cold start without proxy rules)', () => {
      const env = c['env'] as JsonObject[];
      for (const [name, key] of [['KUBERNETES_SERVICE_HOST', 'host'], ['KUBERNETES_SERVICE_PORT', 'port']] as const) {
        const e = env.find((x) => x['name'] === name);
        assert.deepEqual(dig(e, 'valueFrom', 'configMapKeyRef'), { name: 'kube-ipvs-apiserver', key, optional: true }, name);
      }
    });

    it('mounts the config, /lib/modules read-only and the host xtables lock', () => {
      const mounts = new Map((c['volumeMounts'] as JsonObject[]).map((m) => [m['name'] as string, m]));
      const volumes = new Map((pod['volumes'] as JsonObject[]).map((v) => [v['name'] as string, v]));
      assert.deepEqual(mounts.get('lib-modules'), { name: 'lib-modules', mountPath: '/lib/modules', readOnly: true });
      assert.deepEqual(volumes.get('lib-modules'), { name: 'lib-modules', hostPath: { path: '/lib/modules', type: 'Directory' } });
      assert.deepEqual(mounts.get('xtables-lock'), { name: 'xtables-lock', mountPath: '/run/xtables.lock' });
      assert.deepEqual(volumes.get('xtables-lock'), { name: 'xtables-lock', hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } });
      assert.deepEqual(mounts.get('config'), { name: 'config', mountPath: '/var/lib/kube-ipvs', readOnly: true });
      const cm = findOne(objs, 'ConfigMap');
      assert.deepEqual(volumes.get('config'), { name: 'config', configMap: { name: dig(cm, 'metadata', 'name') as string } });
      assert.equal(typeof dig(cm, 'data', 'config.conf'), 'string', 'the ConfigMap key is config.conf (the --config file name)');
      for (const m of mounts.keys()) assert.ok(volumes.has(m), `volume ${m} exists`);
      assert.equal(mounts.size, volumes.size, 'no unused volume');
    });

    it('probes /livez (liveness) and /healthz (readiness) on the health port 10256', () => {
      assert.deepEqual(dig(c, 'livenessProbe', 'httpGet'), { path: '/livez', port: 10256, scheme: 'HTTP' });
      assert.deepEqual(dig(c, 'readinessProbe', 'httpGet'), { path: '/healthz', port: 10256, scheme: 'HTTP' });
      assert.deepEqual(c['ports'], [{ name: 'healthz', containerPort: 10256, protocol: 'TCP' }]);
      // Liveness must tolerate a slow first sync: kube-ipvs reports unhealthy only after 2 x syncPeriod.
      const live = c['livenessProbe'] as JsonObject;
      assert.ok((live['periodSeconds'] as number) * (live['failureThreshold'] as number) >= 60);
    });

    it('requests resources without a memory limit, and has a termination grace period', () => {
      assert.ok(dig(c, 'resources', 'requests', 'cpu'));
      assert.ok(dig(c, 'resources', 'requests', 'memory'));
      assert.equal(dig(c, 'resources', 'limits', 'memory'), undefined);
      assert.equal(typeof pod['terminationGracePeriodSeconds'], 'number');
    });

    it('uses the image tag of this release', () => {
      const version = JSON.parse(readRepoFile('package.json')).version as string;
      assert.equal(c['image'], `kube-ipvs:${version}`);
      assert.equal(c['imagePullPolicy'], 'IfNotPresent');
    });
  });

  describe('kustomization.yaml', () => {
    const [kustomization] = parseYamlDocuments(readRepoFile('deploy', 'kustomization.yaml'), 'deploy/kustomization.yaml');

    it('lists every manifest of deploy/ exactly once', () => {
      assert.equal(kustomization!['apiVersion'], 'kustomize.config.k8s.io/v1beta1');
      assert.equal(kustomization!['kind'], 'Kustomization');
      const files = listRepoFiles('deploy', ['.yaml', '.yml']).filter((f) => f !== 'kustomization.yaml');
      assert.deepEqual([...(kustomization!['resources'] as string[])].sort(), files);
    });

    it('builds with `kubectl kustomize` into the same objects (when kubectl is installed)', async (t) => {
      const probe = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' });
      if (probe.error || probe.status !== 0) {
        t.skip('kubectl is not installed on this machine; kustomize build not run');
        return;
      }
      const r = spawnSync('kubectl', ['kustomize', 'deploy'], { cwd: REPO_ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const built = parseYamlDocuments(r.stdout, 'kubectl kustomize deploy');
      assert.deepEqual(built.map((o) => o['kind']).sort(), objs.map((o) => o.obj['kind']).sort());
      for (const obj of built) assert.deepEqual(await validateKubernetesObject(obj), []);
      const ds = built.find((o) => o['kind'] === 'DaemonSet')!;
      const version = JSON.parse(readRepoFile('package.json')).version as string;
      assert.equal(dig(ds, 'spec', 'template', 'spec', 'containers', 0, 'image'), `kube-ipvs:${version}`);
    });
  });
});
