import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ServiceHealthServer, serviceHealthBody } from '../../src/runtime/service-health.js';
import { get, tryConnect } from './http-helpers.js';

/** Ephemeral ports that were free a moment ago (the OS hands them out round-robin, so reuse is unlikely). */
async function freePorts(n: number): Promise<number[]> {
  const servers: Server[] = [];
  const ports: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    servers.push(s);
    ports.push((s.address() as AddressInfo).port);
  }
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

test('serviceHealthBody is kube-proxy\'s tab-indented body, byte for byte', () => {
  assert.equal(
    serviceHealthBody('shop/web', 2, true),
    '{\n\t"service": {\n\t\t"namespace": "shop",\n\t\t"name": "web"\n\t},\n\t"localEndpoints": 2,\n\t"serviceProxyHealthy": true\n}',
  );
});

test('one server per health check port: 503 without local endpoints, 200 with, 503 when the proxy is unhealthy', async () => {
  const [p1, p2] = await freePorts(2);
  let proxyHealthy = true;
  const shs = new ServiceHealthServer({ addresses: ['127.0.0.1'], isProxyHealthy: () => proxyHealthy });
  try {
    await shs.syncServices({ 'shop/web': p1, 'shop/api': p2 });
    assert.deepEqual([...shs.listening().keys()].sort(), ['shop/api', 'shop/web']);

    let r = await get(p1, '/anything/at/all');
    assert.equal(r.status, 503);
    assert.equal(r.headers['x-load-balancing-endpoint-weight'], '0');
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
    assert.equal(r.body, serviceHealthBody('shop/web', 0, true));

    shs.syncEndpoints(new Map([['shop/web', 3], ['other/x', 5]]));
    r = await get(p1, '/');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-load-balancing-endpoint-weight'], '3');
    assert.equal(JSON.parse(r.body).localEndpoints, 3);
    assert.equal((await get(p2, '/')).status, 503, 'a Service left out of syncEndpoints has 0');

    proxyHealthy = false;
    r = await get(p1, '/healthz', '127.0.0.1', 'POST');
    assert.equal(r.status, 503);
    assert.equal(JSON.parse(r.body).serviceProxyHealthy, false);
    assert.equal(r.headers['x-load-balancing-endpoint-weight'], '3');

    proxyHealthy = true;
    shs.syncEndpoints({ 'shop/api': 1 });
    assert.equal((await get(p1, '/')).status, 503, 'counts not given drop to 0');
    assert.equal((await get(p2, '/')).status, 200);
  } finally {
    await shs.close();
  }
  assert.equal(await tryConnect(p1), 'ECONNREFUSED');
});

test('syncServices closes removed Services and moves a changed port; counts survive only for unchanged ones', async () => {
  const [p1, p2, p3] = await freePorts(3);
  const shs = new ServiceHealthServer({ addresses: ['127.0.0.1'], isProxyHealthy: () => true });
  try {
    await shs.syncServices({ 'a/one': p1, 'a/two': p2 });
    shs.syncEndpoints({ 'a/one': 1, 'a/two': 1 });
    await shs.syncServices({ 'a/one': p1, 'a/two': p3 });
    assert.equal(await tryConnect(p2), 'ECONNREFUSED', 'old port closed');
    assert.equal((await get(p3, '/')).status, 503, 're-opened on the new port, count reset until the next syncEndpoints');
    assert.equal((await get(p1, '/')).status, 200, 'unchanged Service keeps its listener and count');
    await shs.syncServices(new Map([['a/two', p3]]));
    assert.equal(await tryConnect(p1), 'ECONNREFUSED');
    assert.deepEqual([...shs.listening().keys()], ['a/two']);
  } finally {
    await shs.close();
  }
});

test('a port that cannot be bound is reported and skipped; the others work; the next sync retries it', async () => {
  const [busy, ok] = await freePorts(2);
  const blocker = createServer((_, res) => res.end('someone else'));
  await new Promise<void>((r) => blocker.listen(busy, '127.0.0.1', r));
  const errors: string[] = [];
  const shs = new ServiceHealthServer({
    addresses: ['127.0.0.1'],
    isProxyHealthy: () => true,
    onListenError: (svc, port, err) => errors.push(`${svc} ${port} ${(err as NodeJS.ErrnoException).code}`),
  });
  try {
    await shs.syncServices({ 'x/busy': busy, 'x/ok': ok });
    assert.deepEqual(errors, [`x/busy ${busy} EADDRINUSE`]);
    assert.deepEqual([...shs.listening().keys()], ['x/ok']);
    assert.equal((await get(ok, '/')).status, 503);
    assert.equal((await get(busy, '/')).body, 'someone else');
    await new Promise((r) => blocker.close(r));
    await shs.syncServices({ 'x/busy': busy, 'x/ok': ok });
    assert.deepEqual([...shs.listening().keys()].sort(), ['x/busy', 'x/ok']);
    assert.equal((await get(busy, '/')).status, 503);
  } finally {
    await shs.close();
    if (blocker.listening) await new Promise((r) => blocker.close(r));
  }
});

test('listens on every given address; if one fails the whole Service is closed again', async () => {
  const [p1, p2] = await freePorts(2);
  const blocker = createServer();
  await new Promise<void>((r) => blocker.listen(p2, '127.0.0.2', r));
  const shs = new ServiceHealthServer({ addresses: ['127.0.0.1', '127.0.0.2'], isProxyHealthy: () => true });
  try {
    await shs.syncServices({ 'n/a': p1, 'n/b': p2 });
    const a = shs.listening().get('n/a')!;
    assert.deepEqual(a.addresses.map((x) => x.address).sort(), ['127.0.0.1', '127.0.0.2']);
    shs.syncEndpoints({ 'n/a': 1 });
    assert.equal((await get(p1, '/', '127.0.0.2')).status, 200);
    assert.equal(shs.listening().has('n/b'), false);
    assert.equal(await tryConnect(p2, '127.0.0.1'), 'ECONNREFUSED', 'the half-open listener on 127.0.0.1 was closed');
  } finally {
    await shs.close();
    await new Promise((r) => blocker.close(r));
  }
});

test('invalid ports are reported, not thrown', async () => {
  const errors: number[] = [];
  const shs = new ServiceHealthServer({ isProxyHealthy: () => true, onListenError: (_s, port) => errors.push(port) });
  await shs.syncServices({ 'a/b': 0, 'a/c': 70000 });
  assert.deepEqual(errors, [0, 70000]);
  assert.equal(shs.listening().size, 0);
});
