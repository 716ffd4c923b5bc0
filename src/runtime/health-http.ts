// Small HTTP plumbing shared by the health, service-health and metrics servers: bind addresses as
// kube-proxy's flags write them, listening and closing the way Go's net/http does.

import type { AddressInfo } from 'node:net';
import type { Server, ServerResponse } from 'node:http';
import { isIP } from 'node:net';

export interface BindAddress {
  /** undefined = every address, both families (Go listens dual-stack on "0.0.0.0", "::" and ""). */
  host: string | undefined;
  port: number;
}

/**
 * "0.0.0.0:10256", "[::1]:10256", "127.0.0.1", ":10249". Empty = disabled (undefined).
 * A bare IP gets defaultPort (proxyutil.AppendPortIfNeeded). Returns undefined for garbage too:
 * callers distinguish with isDisabledBindAddress().
 */
export function parseBindAddress(text: string, defaultPort: number): BindAddress | undefined {
  const t = (text ?? '').trim();
  if (t === '') return undefined;
  let host: string;
  let portText: string | undefined;
  if (t.startsWith('[')) {
    const close = t.indexOf(']');
    if (close < 0) return undefined;
    host = t.slice(1, close);
    const rest = t.slice(close + 1);
    if (rest === '') portText = undefined;
    else if (rest.startsWith(':')) portText = rest.slice(1);
    else return undefined;
  } else if (isIP(t) === 6) {
    host = t;
  } else {
    const colon = t.lastIndexOf(':');
    if (colon < 0) host = t;
    else {
      host = t.slice(0, colon);
      portText = t.slice(colon + 1);
    }
  }
  let port = defaultPort;
  if (portText !== undefined) {
    if (!/^[0-9]{1,5}$/.test(portText)) return undefined;
    port = Number(portText);
    if (port > 65535) return undefined;
  }
  if (host !== '' && isIP(host) === 0 && host !== 'localhost') return undefined;
  const unspecified = host === '' || host === '0.0.0.0' || host === '::';
  return { host: unspecified ? undefined : host, port };
}

export function isDisabledBindAddress(text: string | undefined): boolean {
  return (text ?? '').trim() === '';
}

/** Listens and resolves with the bound address, or rejects (EADDRINUSE, EACCES, ...). */
export function listenHttp(server: Server, bind: BindAddress): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    if (bind.host === undefined) server.listen(bind.port);
    else server.listen(bind.port, bind.host);
  });
}

/** Stops listening and drops open connections at once (Go's http.Server.Close). */
export function closeHttp(server: Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) {
      server.closeAllConnections?.();
      resolve();
      return;
    }
    server.close(() => resolve());
    server.closeAllConnections?.();
  });
}

/** Go's ServeMux answer for an unknown path. */
export function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
  res.end('404 page not found\n');
}

/** The path of a request URL without the query string. */
export function requestPath(url: string | undefined): string {
  const u = url ?? '/';
  const q = u.indexOf('?');
  return q < 0 ? u : u.slice(0, q);
}
