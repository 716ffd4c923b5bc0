// The real @kubernetes/client-node 1.4.0 informers (through src/k8s/informers.ts) against the embedded
// API server on loopback: events, selectors, bookmarks, 410 relists, outages, silent watches, stop().

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EmbeddedApiServer, type ApiServerOptions } from '../../src/k8s/apiserver/index.js';
import { createProxyInformers, type InformerEvent, type InformerTiming, type ProxyInformers } from '../../src/k8s/informers.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { endpointSlice, HEADLESS, node, PROXY_NAME, service, sleep, startServer, waitFor } from './helpers.js';

const FAST: InformerTiming = {
  watchdogMs: 1500,
  restartBackoff: { initialMs: 100, maxMs: 400 },
  emptyWatchBackoff: { initialMs: 50, maxMs: 200 },
};

interface Rig {
  server: EmbeddedApiServer;
  informers: ProxyInformers;
  log: InformerEvent[];
  cleanup: () => Promise<void>;
}

async function rig(seed: (s: EmbeddedApiServer) => void, serverOpts: ApiServerOptions = {}, timing: InformerTiming = FAST): Promise<Rig> {
  const { server, kubeconfig, cleanup } = await startServer(serverOpts);
  seed(server);
  const { kubeConfig } = await loadKubeConfig({ kubeconfig });
  const informers = await createProxyInformers({ kubeConfig, nodeName: 'node-a', ...timing });
  const log: InformerEvent[] = [];
  informers.onEvent((e) => log.push(e));
  return {
    server,
    informers,
    log,
    cleanup: async () => {
      await informers.stop();
      await cleanup();
    },
  };
}

type Named = { metadata?: { name?: string; resourceVersion?: string } };
const names = (objs: Named[]) => objs.map((o) => o.metadata?.name).sort();
const objectEvents = (log: InformerEvent[], kind: string) =>
  log.filter((e) => e.kind === kind && (e.type === 'add' || e.type === 'update' || e.type === 'delete')).map((e) => `${e.type} ${(e as { object: Named }).object.metadata?.name}`);
const seen = (log: InformerEvent[], kind: string, type: string, name: string) =>
  log.some((e) => e.kind === kind && e.type === type && (e as { object?: Named }).object?.metadata?.name === name);
/** name@resourceVersion of every object, sorted: equal on both sides means nothing was lost. */
const snapshot = (objs: Named[]) => objs.map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`).sort();

function seedBasic(s: EmbeddedApiServer): void {
  s.store.apply(service('a'));
  s.store.apply(service('b'));
  s.store.apply(endpointSlice('a-1', 'a', ['10.244.1.5']));
  s.store.apply(node('node-a'));
  s.store.apply(node('node-b'));
}

/** The informers' caches equal what kube-proxy's selection of the server's objects is. */
function assertInSync(r: Rig): void {
  const selected = (o: Record<string, any>) => !(HEADLESS in (o.metadata?.labels ?? {})) && !(PROXY_NAME in (o.metadata?.labels ?? {}));
  assert.deepEqual(snapshot(r.informers.services.list()), snapshot(r.server.store.objectsOf('Service').filter(selected)));
  assert.deepEqual(snapshot(r.informers.endpointSlices.list()), snapshot(r.server.store.objectsOf('EndpointSlice').filter(selected)));
  assert.deepEqual(snapshot(r.informers.node.list()), snapshot(r.server.store.objectsOf('Node').filter((n) => n.metadata.name === 'node-a')));
}

describe('informers: events and selectors', () => {
  it('initial list, then add/update/delete events, with plain objects of one shape', async () => {
    const r = await rig(seedBasic);
    try {
      assert.equal(r.informers.hasSynced(), false);
      r.informers.start();
      await r.informers.waitForSync();
      assert.deepEqual(names(r.informers.services.list()), ['a', 'b']);
      assert.deepEqual(names(r.informers.endpointSlices.list()), ['a-1']);
      assert.deepEqual(names(r.informers.node.list()), ['node-a']);
      assert.equal(r.informers.currentNode()?.metadata?.name, 'node-a');
      // Per informer: the list's adds, then listed, then synced.
      const svcTypes = r.log.filter((e) => e.kind === 'Service' && e.type !== 'connection').map((e) => e.type);
      assert.deepEqual(svcTypes, ['add', 'add', 'listed', 'synced']);

      const listed = r.informers.services.get('a', 'default')!;
      assert.equal(listed.kind, 'Service', 'list items get their kind back');
      assert.equal(listed.apiVersion, 'v1');
      assert.equal(typeof listed.metadata?.creationTimestamp, 'string', 'not a Date as the generated list API would give');
      assert.ok(Object.isFrozen(listed) && Object.isFrozen(listed.spec!.ports![0]));

      r.server.store.apply(service('c'));
      r.server.store.apply(service('a', { labels: { tier: 'web' } }));
      r.server.store.remove('Service', 'b', 'default');
      r.server.store.apply(endpointSlice('a-2', 'a', ['10.244.2.7']));
      await waitFor(() => seen(r.log, 'Service', 'delete', 'b') && seen(r.log, 'EndpointSlice', 'add', 'a-2'), 10_000, 'watch events');
      assert.deepEqual(objectEvents(r.log, 'Service'), ['add a', 'add b', 'add c', 'update a', 'delete b']);
      const update = r.log.find((e) => e.kind === 'Service' && e.type === 'update') as Extract<InformerEvent, { kind: 'Service'; type: 'update' }>;
      assert.equal(update.old?.metadata?.labels, undefined);
      assert.deepEqual(update.object.metadata?.labels, { tier: 'web' });
      const watched = r.informers.services.get('a', 'default')!;
      assert.deepEqual(Object.keys(watched).sort(), Object.keys(listed).sort());
      assert.equal(typeof watched.metadata?.creationTimestamp, 'string');
      assert.deepEqual(names(r.informers.endpointSlices.slicesFor('default', 'a')), ['a-1', 'a-2']);
      assertInSync(r);
    } finally {
      await r.cleanup();
    }
  });

  it('keeps only what kube-ipvs reads: managedFields, last-applied, pod references and Node bulk never reach a listener', async () => {
    const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
    const cluttered = <T extends { metadata: Record<string, unknown> }>(o: T, extra: Record<string, unknown> = {}): T => ({
      ...o,
      ...extra,
      metadata: {
        ...o.metadata,
        managedFields: [{ manager: 'kubectl', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': {} } }],
        ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: 'a', uid: 'u-1' }],
        annotations: { [LAST_APPLIED]: '{"big":"' + 'x'.repeat(300) + '"}', 'kube-ipvs.io/scheduler': 'wrr' },
      },
    });
    const svc = (port: number) => {
      const s = service('a', { clusterIP: '10.96.0.1', ports: [{ name: 'http', port, protocol: 'TCP', targetPort: 8080 }] });
      return cluttered(s, { spec: { ...s.spec, selector: { app: 'a' } } });
    };
    const sl = (name: string, ip: string) => {
      const e = endpointSlice(name, 'a', [ip]);
      return cluttered(e, { endpoints: e.endpoints.map((x) => ({ ...x, targetRef: { kind: 'Pod', name: `pod-${name}`, uid: 'p-1' } })) });
    };
    const n = () => cluttered(node('node-a'), { status: { ...node('node-a').status, images: [{ names: ['img:1'], sizeBytes: 1 }], nodeInfo: { kubeletVersion: 'v1.34.0' } } });
    const r = await rig((s) => {
      s.store.apply(svc(80));
      s.store.apply(sl('a-1', '10.244.1.1'));
      s.store.apply(n());
    });
    // Everything a listener ever got: list adds, then watch updates, adds and deletes.
    const objects = () => r.log.flatMap((e) => ('object' in e ? [e.object, ...('old' in e && e.old ? [e.old] : [])] : [])) as Record<string, any>[];
    const assertCompact = () => {
      for (const o of objects()) {
        assert.equal('managedFields' in o.metadata, false, `${o.kind} ${o.metadata.name}: managedFields`);
        assert.equal('ownerReferences' in o.metadata, false);
        assert.equal('uid' in o.metadata, false);
        assert.deepEqual(o.metadata.annotations, { 'kube-ipvs.io/scheduler': 'wrr' }, `${o.kind} ${o.metadata.name}: other annotations are kept (${JSON.stringify(o.metadata)})`);
        assert.equal(typeof o.metadata.resourceVersion, 'string');
        if (o.kind === 'Service') assert.equal('selector' in o.spec, false);
        if (o.kind === 'EndpointSlice') for (const ep of o.endpoints) assert.equal('targetRef' in ep, false);
        if (o.kind === 'Node') assert.deepEqual(Object.keys(o.status), ['addresses']);
      }
    };
    try {
      r.informers.start();
      await r.informers.waitForSync();
      assert.equal(r.informers.services.get('a', 'default')?.spec?.ports?.[0]?.port, 80);
      assert.deepEqual(r.informers.currentNode()?.status?.addresses, [{ type: 'InternalIP', address: '192.168.0.10' }]);
      // The watch path: an update, a second slice, a delete (slicesFor goes 1 -> 2 -> 1 slices).
      r.server.store.apply(svc(81));
      r.server.store.apply(sl('a-2', '10.244.1.2'));
      await waitFor(() => seen(r.log, 'EndpointSlice', 'add', 'a-2') && seen(r.log, 'Service', 'update', 'a'), 10_000, 'watch events');
      assert.deepEqual(names(r.informers.endpointSlices.slicesFor('default', 'a')), ['a-1', 'a-2']);
      r.server.store.remove('EndpointSlice', 'a-1', 'default');
      await waitFor(() => seen(r.log, 'EndpointSlice', 'delete', 'a-1'), 10_000, 'delete event');
      assert.deepEqual(names(r.informers.endpointSlices.slicesFor('default', 'a')), ['a-2']);
      assert.equal(r.informers.services.get('a', 'default')?.spec?.ports?.[0]?.port, 81);
      assert.ok(objects().length >= 6);
      assertCompact();
      assertInSync(r);
    } finally {
      await r.cleanup();
    }
  });

  it('never delivers headless or other-proxy objects, and applies the selectors to list and watch', async () => {
    const r = await rig((s) => {
      seedBasic(s);
      s.store.apply(service('hl', { labels: { [HEADLESS]: '' } }));
      s.store.apply(service('cilium', { labels: { [PROXY_NAME]: 'cilium' } }));
      s.store.apply(endpointSlice('hl-1', 'hl', ['10.244.9.9'], { labels: { [HEADLESS]: '' } }));
    });
    try {
      r.informers.start();
      await r.informers.waitForSync();
      assert.deepEqual(names(r.informers.services.list()), ['a', 'b']);
      assert.deepEqual(names(r.informers.endpointSlices.list()), ['a-1']);
      // ListWatch hands the selector only to the watch; our list function must send it too.
      const lists = r.server.requestLog.filter((q) => q.method === 'GET' && q.query.watch === undefined);
      assert.equal(lists.find((q) => q.path === '/api/v1/services')?.query.labelSelector, `!${HEADLESS},!${PROXY_NAME}`);
      assert.equal(lists.find((q) => q.path === '/apis/discovery.k8s.io/v1/endpointslices')?.query.labelSelector, `!${HEADLESS},!${PROXY_NAME}`);
      assert.equal(lists.find((q) => q.path === '/api/v1/nodes')?.query.fieldSelector, 'metadata.name=node-a');

      r.server.store.apply(service('kube-router', { labels: { [PROXY_NAME]: 'kube-router' } }));
      r.server.store.apply(node('node-b', { changed: 'yes' }));
      r.server.store.apply(service('a', { labels: { [PROXY_NAME]: 'other' } })); // leaves the selection
      r.server.store.apply(node('node-a', { changed: 'yes' }));
      await waitFor(() => seen(r.log, 'Service', 'delete', 'a') && seen(r.log, 'Node', 'update', 'node-a'), 10_000, 'delete a, update node-a');
      r.server.store.apply(service('a')); // enters again
      await waitFor(() => objectEvents(r.log, 'Service').at(-1) === 'add a', 10_000, 'add a again');
      assert.deepEqual(objectEvents(r.log, 'Service'), ['add a', 'add b', 'delete a', 'add a']);
      assert.deepEqual(objectEvents(r.log, 'Node'), ['add node-a', 'update node-a']);
      assertInSync(r);
    } finally {
      await r.cleanup();
    }
  });
  it('lists in pages when the server pages, and sees every object once', async () => {
    const r = await rig(
      (s) => {
        seedBasic(s);
        for (let i = 0; i < 5; i++) s.store.apply(service(`paged-${i}`));
      },
      {},
      { ...FAST, listPageSize: 2 },
    );
    try {
      r.informers.start();
      await r.informers.waitForSync();
      const pages = r.server.requestLog.filter((q) => q.path === '/api/v1/services' && q.query.watch === undefined);
      assert.equal(pages.length, 4);
      assert.ok(pages.slice(1).every((q) => q.query.continue && q.query.resourceVersion === undefined));
      assert.equal(objectEvents(r.log, 'Service').filter((e) => e.startsWith('add ')).length, 7);
      assertInSync(r);
    } finally {
      await r.cleanup();
    }
  });
});

describe('informers: bookmarks and resourceVersion', () => {
  it('asks for bookmarks and follows them while its own objects do not change', async () => {
    const r = await rig(seedBasic, { bookmarkIntervalMs: 100 });
    try {
      r.informers.start();
      await r.informers.waitForSync();
      await waitFor(() => r.server.activeWatches.length === 3, 10_000, 'three watches');
      for (const w of r.server.activeWatches) assert.equal(w.bookmarks, true, `${w.resource.plural} watch allows bookmarks`);
      const watchRequests = r.server.requestLog.filter((q) => q.query.watch === 'true');
      assert.ok(watchRequests.every((q) => q.query.allowWatchBookmarks === 'true' && q.query.timeoutSeconds === '300'));
      // Only other objects change: the Node informer learns the new version from bookmarks alone.
      for (let i = 0; i < 5; i++) r.server.store.apply(node(`other-${i}`));
      const target = String(r.server.store.resourceVersion);
      await waitFor(() => r.informers.node.resourceVersion() === target, 10_000, 'node informer at the server version');
      assert.ok(r.informers.node.counters.bookmarks > 0);
      assert.equal(r.informers.node.counters.events, 0);
      assert.deepEqual(objectEvents(r.log, 'Node'), ['add node-a']);
    } finally {
      await r.cleanup();
    }
  });
});

describe('informers: 410 Gone and relists', () => {
  for (const mode of ['event', 'http'] as const) {
    it(`history compacted during an outage (410 as ${mode === 'event' ? 'ERROR event' : 'HTTP 410'}): relist reports deletes and adds`, async () => {
      const r = await rig(seedBasic, { expiredWatchResponse: mode });
      try {
        r.informers.start();
        await r.informers.waitForSync();
        await r.server.pause();
        r.server.store.remove('Service', 'b', 'default');
        r.server.store.remove('EndpointSlice', 'a-1', 'default');
        r.server.store.apply(service('c'));
        r.server.compact();
        await r.server.resume();
        await waitFor(() => seen(r.log, 'Service', 'delete', 'b') && seen(r.log, 'Service', 'add', 'c') && seen(r.log, 'EndpointSlice', 'delete', 'a-1'), 15_000, 'relist');
        const relisted = r.log.filter((e) => e.type === 'listed' && !e.info.initial).map((e) => e.kind);
        assert.ok(relisted.includes('Service') && relisted.includes('EndpointSlice'), `relisted: ${relisted}`);
        assert.ok(r.informers.services.counters.expired >= 1);
        assert.ok(r.informers.services.counters.relists >= 1);
        // First list from the watch cache (resourceVersion=0) like client-go; the relist is a consistent read.
        const svcLists = r.server.requestLog.filter((q) => q.path === '/api/v1/services' && q.query.watch === undefined);
        assert.deepEqual(svcLists.map((q) => q.query.resourceVersion), ['0', ...svcLists.slice(1).map(() => undefined)]);
        assert.deepEqual(names(r.informers.services.list()), ['a', 'c']);
        assert.deepEqual(r.informers.endpointSlices.list(), []);
        assert.equal(r.server.stats.expired >= 1, true);
        assertInSync(r);
      } finally {
        await r.cleanup();
      }
    });
  }

  it('an ERROR 410 on a live watch makes the informer relist without losing anything', async () => {
    const r = await rig(seedBasic);
    try {
      r.informers.start();
      await r.informers.waitForSync();
      await waitFor(() => r.server.activeWatches.length === 3, 10_000, 'three watches');
      r.server.store.apply(service('d'));
      r.server.compact();
      assert.equal(r.server.expireWatches(), 3);
      await waitFor(() => r.informers.services.counters.relists === 1 && seen(r.log, 'Service', 'add', 'd'), 10_000, 'relist');
      r.server.store.apply(service('e'));
      await waitFor(() => seen(r.log, 'Service', 'add', 'e'), 10_000, 'watching again');
      assert.equal(r.log.filter((e) => e.kind === 'Service' && e.type === 'add' && (e as { object: Named }).object.metadata?.name === 'd').length, 1);
      assertInSync(r);
    } finally {
      await r.cleanup();
    }
  });

  it('an API server restarted with a smaller resourceVersion ("too large resource version") is relisted', async () => {
    const r = await rig(seedBasic);
    let second: EmbeddedApiServer | undefined;
    try {
      r.informers.start();
      await r.informers.waitForSync();
      const port = r.server.port;
      await r.server.stop();
      second = new EmbeddedApiServer({ bookmarkIntervalMs: 200 });
      second.store.apply(service('fresh'));
      second.store.apply(node('node-a', { reborn: 'true' }));
      await second.start(port);
      await waitFor(() => seen(r.log, 'Service', 'delete', 'b') && seen(r.log, 'Service', 'add', 'fresh'), 15_000, 'relist against the new server');
      await waitFor(() => r.informers.currentNode()?.metadata?.labels?.reborn === 'true', 10_000, 'new node');
      assert.deepEqual(names(r.informers.services.list()), ['fresh']);
      assert.ok(r.informers.services.counters.expired >= 1, 'the 504 was treated as expired');
      assertInSync({ ...r, server: second });
    } finally {
      await r.informers.stop();
      await second?.stop();
      await r.cleanup();
    }
  });
});

describe('informers: outages, silent watches, stop', () => {
  it('an outage of a few seconds: informers restart, resume from their version, nothing is lost', async () => {
    const r = await rig(seedBasic);
    try {
      r.informers.start();
      await r.informers.waitForSync();
      await r.server.pause();
      r.server.store.apply(service('during-outage'));
      r.server.store.apply(service('a', { labels: { changed: 'during-outage' } }));
      r.server.store.remove('EndpointSlice', 'a-1', 'default');
      await waitFor(() => r.informers.services.counters.restarts >= 2, 10_000, 'restart attempts while down');
      await waitFor(() => r.informers.services.connection === 'disconnected', 10_000, 'disconnected state');
      assert.equal(r.informers.hasSynced(), true, 'synced stays true through an outage');
      await r.server.resume();
      await waitFor(
        () => seen(r.log, 'Service', 'add', 'during-outage') && seen(r.log, 'Service', 'update', 'a') && seen(r.log, 'EndpointSlice', 'delete', 'a-1'),
        15_000,
        'changes made during the outage',
      );
      await waitFor(() => r.informers.services.connection === 'connected', 10_000, 'connected again');
      assert.equal(r.informers.services.counters.relists, 0, 'resumed from history, no relist');
      assert.ok(r.informers.services.counters.watchErrors >= 1);
      r.server.store.apply(service('after-outage'));
      await waitFor(() => seen(r.log, 'Service', 'add', 'after-outage'), 10_000, 'watching again');
      assertInSync(r);
    } finally {
      await r.cleanup();
    }
  });

  it('informers started while the API server is down sync once it is up (and not before)', async () => {
    const r = await rig(seedBasic);
    try {
      await r.server.pause();
      r.informers.start();
      await waitFor(() => r.informers.services.counters.restarts >= 1, 10_000, 'a failed attempt');
      assert.equal(r.informers.hasSynced(), false);
      assert.ok(r.informers.services.counters.listErrors >= 1);
      await r.server.resume();
      await r.informers.waitForSync();
      assertInSync(r);
    } finally {
      await r.cleanup();
    }
  });

  it('a watch that goes silent is replaced by the watchdog', async () => {
    const r = await rig(seedBasic, { bookmarkIntervalMs: 100 });
    try {
      r.informers.start();
      await r.informers.waitForSync();
      await waitFor(() => r.server.activeWatches.length === 3, 10_000, 'three watches');
      assert.equal(r.server.freezeWatches(), 3);
      r.server.store.apply(service('behind-a-dead-watch'));
      await waitFor(() => seen(r.log, 'Service', 'add', 'behind-a-dead-watch'), 15_000, 'event after the watchdog');
      assert.ok(r.informers.services.counters.watchdogResets >= 1);
      assert.equal(r.informers.services.counters.relists, 0);
      // The frozen connections were closed by the client, not left open.
      await waitFor(() => r.server.activeWatches.length === 3, 10_000, 'only the replacement watches remain');
    } finally {
      await r.cleanup();
    }
  });

  it('a watch request that never gets response headers is abandoned by the watchdog', async () => {
    const r = await rig(seedBasic);
    try {
      r.informers.start();
      await r.informers.waitForSync();
      r.server.setHangWatchRequests(true);
      r.server.closeWatches();
      r.server.store.apply(service('behind-a-hung-request'));
      await waitFor(() => r.informers.services.counters.watchdogResets >= 2, 15_000, 'two watchdog resets');
      assert.equal(seen(r.log, 'Service', 'add', 'behind-a-hung-request'), false);
      r.server.setHangWatchRequests(false);
      await waitFor(() => seen(r.log, 'Service', 'add', 'behind-a-hung-request'), 15_000, 'event once requests are answered');
      assertInSync(r);
    } finally {
      await r.cleanup();
    }
  });

  it('stop() closes the watches and nothing restarts, even with restarts pending', async () => {
    const r = await rig(seedBasic);
    try {
      r.informers.start();
      await r.informers.waitForSync();
      await r.server.pause(); // restarts get scheduled
      await waitFor(() => r.informers.services.counters.restarts >= 1, 10_000, 'a scheduled restart');
      await r.informers.stop();
      const counters = JSON.stringify(r.informers.counters());
      const errorsBefore = r.log.filter((e) => e.type === 'connection' && e.state === 'disconnected').length;
      await r.server.resume();
      const requestsAfterStop = r.server.stats.requests;
      await sleep(1500); // several restart backoffs (100-400 ms)
      assert.equal(r.server.stats.requests, requestsAfterStop, 'no request after stop()');
      assert.equal(JSON.stringify(r.informers.counters()), counters);
      assert.equal(r.log.filter((e) => e.type === 'connection' && e.state === 'disconnected').length, errorsBefore);
      for (const inf of [r.informers.services, r.informers.endpointSlices, r.informers.node]) assert.equal(inf.connection, 'stopped');
    } finally {
      await r.cleanup();
    }
  });

  it('stop() of a healthy informer closes its watches and reports no error', async () => {
    const r = await rig(seedBasic);
    try {
      r.informers.start();
      await r.informers.waitForSync();
      await waitFor(() => r.server.activeWatches.length === 3, 10_000, 'three watches');
      await r.informers.stop();
      await waitFor(() => r.server.activeWatches.length === 0, 10_000, 'watches closed');
      r.server.store.apply(service('after-stop'));
      await sleep(300);
      assert.equal(seen(r.log, 'Service', 'add', 'after-stop'), false);
      assert.equal(r.informers.services.counters.restarts, 0);
      assert.ok(!r.log.some((e) => e.type === 'connection' && e.state === 'disconnected'));
    } finally {
      await r.cleanup();
    }
  });

  it('start() after stop() resumes from the last version with one watch per informer', async () => {
    const r = await rig(seedBasic);
    try {
      r.informers.start();
      await r.informers.waitForSync();
      await r.informers.stop();
      r.server.store.apply(service('while-stopped'));
      r.informers.start();
      await waitFor(() => seen(r.log, 'Service', 'add', 'while-stopped'), 10_000, 'change made while stopped');
      await waitFor(() => r.server.activeWatches.length === 3, 10_000, 'three watches');
      assert.equal(r.informers.services.counters.relists, 0);
      assert.equal(r.informers.services.counters.restarts, 0);
      // A stop() during the very first list, then start(): one run, not two.
      const r2 = await rig(seedBasic);
      try {
        r2.informers.start();
        await r2.informers.stop();
        r2.informers.start();
        await r2.informers.waitForSync();
        await waitFor(() => r2.server.activeWatches.length === 3, 10_000, 'three watches');
        await sleep(300);
        assert.equal(r2.server.activeWatches.length, 3);
        assert.equal(r2.informers.services.counters.restarts, 0);
        assert.deepEqual(objectEvents(r2.log, 'Service'), ['add a', 'add b']);
      } finally {
        await r2.cleanup();
      }
    } finally {
      await r.cleanup();
    }
  });

  it('a throwing listener neither stops the informer nor its resourceVersion', async () => {
    const r = await rig(seedBasic);
    try {
      r.informers.services.on('add', () => {
        throw new Error('listener bug');
      });
      r.informers.start();
      await r.informers.waitForSync();
      r.server.store.apply(service('x'));
      r.server.store.apply(service('y'));
      await waitFor(() => seen(r.log, 'Service', 'add', 'y'), 10_000, 'add y');
      assert.equal(r.informers.services.resourceVersion(), r.server.store.objectsOf('Service').find((s) => s.metadata.name === 'y')!.metadata.resourceVersion);
    } finally {
      await r.cleanup();
    }
  });

  it('waitForSync rejects when its signal aborts first', async () => {
    const r = await rig(seedBasic);
    try {
      await r.server.pause();
      r.informers.start();
      const ac = new AbortController();
      const p = r.informers.waitForSync(ac.signal);
      ac.abort(new Error('gave up'));
      await assert.rejects(p, /gave up/);
    } finally {
      await r.cleanup();
    }
  });
});
