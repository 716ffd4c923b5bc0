// KubeConfig loading with kube-proxy's flags, and the `kube-ipvs apiserver` command.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { runApiServerCommand, type EmbeddedApiServer } from '../../src/k8s/apiserver/index.js';
import { listAll } from '../../src/k8s/rest.js';
import { kubeConfigSource, loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { request, startServer } from './helpers.js';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-kc-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('kubeconfig loading', () => {
  it('chooses the source the way kube-proxy does', () => {
    const inCluster = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };
    assert.equal(kubeConfigSource({ kubeconfig: '/k', master: 'https://m' }, inCluster), 'kubeconfig');
    assert.equal(kubeConfigSource({ master: 'https://m' }, inCluster), 'master');
    assert.equal(kubeConfigSource({}, inCluster), 'in-cluster');
    assert.equal(kubeConfigSource({}, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }), 'default');
    assert.equal(kubeConfigSource({}, {}), 'default');
  });

  it('loads the embedded server’s kubeconfig, and --master overrides its server', async () => {
    const { server, kubeconfig, cleanup } = await startServer();
    try {
      const a = await loadKubeConfig({ kubeconfig });
      assert.equal(a.source, 'kubeconfig');
      assert.equal(a.kubeConfig.getCurrentCluster()?.server, server.url);
      assert.equal(a.kubeConfig.getCurrentCluster()?.skipTLSVerify, true);
      const b = await loadKubeConfig({ kubeconfig, master: 'https://override.example:6443' });
      assert.equal(b.kubeConfig.getCurrentCluster()?.server, 'https://override.example:6443');
      assert.equal(b.kubeConfig.getCurrentUser()?.token, 'embedded', 'credentials of the file are kept');
    } finally {
      await cleanup();
    }
  });

  it('--master alone gives that server without credentials; plain http works without the insecure flag', async () => {
    const { server, cleanup } = await startServer();
    try {
      server.store.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' } });
      const { kubeConfig, source } = await loadKubeConfig({ master: server.url });
      assert.equal(source, 'master');
      assert.equal(kubeConfig.getCurrentCluster()?.server, server.url);
      const list = await listAll(kubeConfig, '/api/v1/nodes', {});
      assert.deepEqual(list.items.map((i: any) => i.metadata.name), ['n1']);
    } finally {
      await cleanup();
    }
  });

  it('a user kubeconfig with an http:// server and no insecure-skip-tls-verify still works', async () => {
    const { server, cleanup } = await startServer();
    try {
      const path = join(dir, 'plain-http.yaml');
      writeFileSync(
        path,
        [
          'apiVersion: v1',
          'kind: Config',
          'clusters: [{name: c, cluster: {server: "' + server.url + '"}}]',
          'users: [{name: u, user: {token: t}}]',
          'contexts: [{name: x, context: {cluster: c, user: u}}]',
          'current-context: x',
        ].join('\n'),
      );
      const { kubeConfig } = await loadKubeConfig({ kubeconfig: path });
      const list = await listAll(kubeConfig, '/api/v1/services', {});
      assert.deepEqual(list.items, []);
      assert.equal(server.requestLog.at(-1)?.path, '/api/v1/services');
    } finally {
      await cleanup();
    }
  });

  it('in-cluster: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT, IPv6 bracketed', async () => {
    const saved = { h: process.env.KUBERNETES_SERVICE_HOST, p: process.env.KUBERNETES_SERVICE_PORT };
    try {
      process.env.KUBERNETES_SERVICE_HOST = 'fd00::1';
      process.env.KUBERNETES_SERVICE_PORT = '443';
      const { kubeConfig, source } = await loadKubeConfig({});
      assert.equal(source, 'in-cluster');
      assert.equal(kubeConfig.getCurrentCluster()?.server, 'https://[fd00::1]:443');
    } finally {
      if (saved.h === undefined) delete process.env.KUBERNETES_SERVICE_HOST;
      else process.env.KUBERNETES_SERVICE_HOST = saved.h;
      if (saved.p === undefined) delete process.env.KUBERNETES_SERVICE_PORT;
      else process.env.KUBERNETES_SERVICE_PORT = saved.p;
    }
  });

  it('a missing kubeconfig file is an error', async () => {
    await assert.rejects(loadKubeConfig({ kubeconfig: join(dir, 'does-not-exist') }), /ENOENT/);
  });
});

describe('kube-ipvs apiserver command', () => {
  it('loads objects (multi-document YAML, Lists, JSON), writes a kubeconfig and serves until stopped', async () => {
    const yamlFile = join(dir, 'objects.yaml');
    writeFileSync(
      yamlFile,
      [
        'apiVersion: v1',
        'kind: Service',
        'metadata: {name: web, namespace: default}',
        'spec: {clusterIP: 10.96.0.50, ports: [{port: 80}]}',
        '---',
        'apiVersion: v1',
        'kind: List',
        'items:',
        '- apiVersion: v1',
        '  kind: Node',
        '  metadata: {name: node-a}',
        '- apiVersion: discovery.k8s.io/v1',
        '  kind: EndpointSlice',
        '  metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}',
        '  addressType: IPv4',
        '  endpoints: [{addresses: [10.244.0.5]}]',
        '---',
      ].join('\n'),
    );
    const jsonFile = join(dir, 'objects.json');
    writeFileSync(jsonFile, JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'db', namespace: 'prod' }, spec: { ports: [{ port: 5432 }] } }));
    const kubeconfigOut = join(dir, 'out', 'kubeconfig');
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const ac = new AbortController();
    let server: EmbeddedApiServer | undefined;
    let exit!: Promise<number>;
    const ready = new Promise<void>((resolve) => {
      exit = runApiServerCommand(['--port', '0', '--objects', yamlFile, '--objects', jsonFile, '--kubeconfig-out', kubeconfigOut], {
        stdout,
        stderr,
        signal: ac.signal,
        onReady: (s) => {
          server = s;
          resolve();
        },
      });
    });
    await ready;
    try {
      const url = String(stdout.read()).trim();
      assert.equal(url, server!.url);
      assert.match(readFileSync(kubeconfigOut, 'utf8'), new RegExp(`server: ${url}`));
      const svcs = await request(server!, 'GET', '/api/v1/services');
      assert.deepEqual(svcs.body.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`), ['default/web', 'prod/db']);
      assert.equal(svcs.body.items[0].spec.clusterIP, '10.96.0.50');
      const slices = await request(server!, 'GET', '/apis/discovery.k8s.io/v1/endpointslices');
      assert.equal(slices.body.items.length, 1);
      assert.match(String(stderr.read()), /4 objects loaded/);
    } finally {
      ac.abort();
    }
    assert.equal(await exit, 0);
  });

  it('exits 2 on a bad flag and 1 on a bad objects file', async () => {
    const err = new PassThrough();
    assert.equal(await runApiServerCommand(['--bogus'], { stdout: new PassThrough(), stderr: err }), 2);
    assert.match(String(err.read()), /Usage: kube-ipvs apiserver/);
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'apiVersion: v1\nkind: Service\nmetadata: {name: x\n');
    const err2 = new PassThrough();
    assert.equal(await runApiServerCommand(['--objects', bad], { stdout: new PassThrough(), stderr: err2 }), 1);
    assert.match(String(err2.read()), /bad\.yaml:\d+: /);
  });
});
