// `kube-ipvs apiserver`: run the embedded API server as a process (sandbox demo, end-to-end tests in the
// guest). Loads objects from files, writes a kubeconfig for clients, serves until SIGINT/SIGTERM.

import { parseArgs } from 'node:util';
import { loadObjectFiles } from '../objects.js';
import { EmbeddedApiServer } from './server.js';

export const APISERVER_USAGE = `Usage: kube-ipvs apiserver [flags]

Runs a small in-memory Kubernetes API server (plain HTTP) serving v1 Services, discovery.k8s.io/v1
EndpointSlices, v1 Nodes and Events with real list/watch semantics. For demos and tests only.

Flags:
  --port N                       port to listen on (default 0: any free port)
  --bind-address ADDR            address to listen on (default 127.0.0.1)
  --objects FILE                 YAML/JSON objects to load at start (repeatable)
  --kubeconfig-out PATH          write a kubeconfig for this server (written once listening)
  --service-cluster-ip-range C   CIDR(s) for ClusterIP allocation, comma separated (default 10.96.0.0/12)
  --service-node-port-range R    NodePort range (default 30000-32767)
  --bookmark-interval-seconds N  BOOKMARK interval for watches (default 60)
  --history-size N               watch history window in events (default 10000)
  -h, --help                     this help
`;

export interface CommandIO {
  stdout?: NodeJS.WritableStream;
  stderr?: NodeJS.WritableStream;
  /** Stops the server (tests); SIGINT/SIGTERM do the same for a real process. */
  signal?: AbortSignal;
  /** Called once the server listens and the objects are loaded. */
  onReady?: (server: EmbeddedApiServer) => void;
}

function positiveNumber(flag: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag}: not a non-negative number: ${v}`);
  return n;
}

/** Returns the process exit code. */
export async function runApiServerCommand(argv: string[], io: CommandIO = {}): Promise<number> {
  const out = io.stdout ?? process.stdout;
  const err = io.stderr ?? process.stderr;
  let server: EmbeddedApiServer;
  let port: number;
  let objects: string[];
  let kubeconfigOut: string | undefined;
  let loaded = 0;
  try {
    const { values } = parseArgs({
      args: argv,
      allowPositionals: false,
      options: {
        port: { type: 'string' },
        'bind-address': { type: 'string' },
        objects: { type: 'string', multiple: true },
        'kubeconfig-out': { type: 'string' },
        'service-cluster-ip-range': { type: 'string' },
        'service-node-port-range': { type: 'string' },
        'bookmark-interval-seconds': { type: 'string' },
        'history-size': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      out.write(APISERVER_USAGE);
      return 0;
    }
    port = positiveNumber('--port', values.port, 0);
    objects = values.objects ?? [];
    kubeconfigOut = values['kubeconfig-out'];
    server = new EmbeddedApiServer({
      host: values['bind-address'] ?? '127.0.0.1',
      serviceCIDRs: values['service-cluster-ip-range']?.split(',').map((s) => s.trim()).filter(Boolean),
      nodePortRange: values['service-node-port-range'],
      bookmarkIntervalMs: positiveNumber('--bookmark-interval-seconds', values['bookmark-interval-seconds'], 60) * 1000,
      historySize: positiveNumber('--history-size', values['history-size'], 10_000),
    });
  } catch (e) {
    err.write(`kube-ipvs apiserver: ${(e as Error).message}\n\n${APISERVER_USAGE}`);
    return 2;
  }

  try {
    // Objects first, so the first list a client makes already sees them. The loader keeps Services,
    // EndpointSlices and Nodes and notes what it ignored.
    const found = loadObjectFiles(objects);
    for (const note of found.notes) err.write(`kube-ipvs apiserver: ${note}\n`);
    for (const o of [...found.nodes, ...found.services, ...found.endpointSlices]) {
      server.store.apply(o);
      loaded++;
    }
    await server.start(port);
    if (kubeconfigOut) server.writeKubeconfig(kubeconfigOut);
  } catch (e) {
    err.write(`kube-ipvs apiserver: ${(e as Error).message}\n`);
    await server.stop();
    return 1;
  }
  out.write(`${server.url}\n`);
  err.write(
    `kube-ipvs apiserver: listening on ${server.url}, ${loaded} objects loaded` +
      (kubeconfigOut ? `, kubeconfig ${kubeconfigOut}` : '') +
      '\n',
  );
  io.onReady?.(server);

  await new Promise<void>((resolve) => {
    const done = () => {
      process.off('SIGINT', done);
      process.off('SIGTERM', done);
      io.signal?.removeEventListener('abort', done);
      resolve();
    };
    process.on('SIGINT', done);
    process.on('SIGTERM', done);
    io.signal?.addEventListener('abort', done, { once: true });
    if (io.signal?.aborted) done();
  });
  await server.stop();
  return 0;
}
