// EndpointSlice validation: an untrusted ApiEndpointSlice becomes a NormalizedSlice with what kube-proxy's
// endpoint slice cache reads (pkg/proxy/endpointslicecache.go): the Service it belongs to (label
// kubernetes.io/service-name), its address family (addressType; FQDN slices are ignored), its ports by
// (name, protocol), and per endpoint addresses[0], nodeName, conditions and topology hints.

import { LABEL_HEADLESS, LABEL_SERVICE_NAME, LABEL_SERVICE_PROXY_NAME, type ApiEndpointSlice } from '../model/api.js';
import type { IPFamily } from '../model/ip.js';
import type { Diagnostic, Protocol } from '../model/state.js';
import { fastV4Key, portKey, toAddr } from './address.js';
import { isPortNumber, isRecord, show } from './json.js';
import { objectName } from './service.js';
import { dedupEndpoints, portId } from './endpoints.js';
import type { ServiceEndpoint } from './topology.js';

export interface SlicePort {
  name: string;
  protocol: Protocol;
  port: number;
  /** portId(name, protocol): how service ports find their endpoints. */
  id: string;
  /** The slice's endpoints on this port: sorted by (address, port), one per address (dedupEndpoints). */
  endpoints: ServiceEndpoint[];
}

export interface NormalizedSlice {
  /** "namespace/sliceName". */
  key: string;
  /** "namespace/serviceName" from the kubernetes.io/service-name label. */
  serviceKey: string;
  family: IPFamily;
  ports: SlicePort[];
}

export type SliceNormalization =
  | { status: 'invalid'; key: string | undefined; diagnostics: Diagnostic[] }
  | { status: 'skipped'; key: string; reason: SliceSkipReason; diagnostics: Diagnostic[] }
  | { status: 'ok'; key: string; slice: NormalizedSlice; diagnostics: Diagnostic[] };

/** Why a valid EndpointSlice is not read (for explain): kube-proxy's label selector, or an FQDN slice. */
export type SliceSkipReason = 'service-proxy-name' | 'headless-label' | 'fqdn';

const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

/** Where an endpoint's field is, for diagnostics (built only when warning). */
function at(i: number, field: string): string {
  return `endpoints[${i}]${field}`;
}

function readHints(list: unknown, field: string, where: string, warn: (m: string) => void): ReadonlySet<string> | undefined {
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) {
    warn(`${where}.hints.${field} ${show(list)} is not a list; ignored`);
    return undefined;
  }
  const out = new Set<string>();
  for (const h of list) {
    if (isRecord(h) && typeof h.name === 'string') out.add(h.name);
    else warn(`${where}.hints.${field} entry ${show(h)} has no string name; ignored`);
  }
  return out.size > 0 ? out : undefined;
}

export function normalizeEndpointSlice(obj: ApiEndpointSlice | unknown): SliceNormalization {
  const diagnostics: Diagnostic[] = [];
  const meta = isRecord(obj) ? obj.metadata : undefined;
  const namespace = isRecord(meta) ? meta.namespace : undefined;
  const name = isRecord(meta) ? meta.name : undefined;
  const object = objectName(namespace, name);
  const warn = (message: string) => diagnostics.push({ object, kind: 'EndpointSlice', message });
  if (!isRecord(obj)) {
    warn(`not an object: ${show(obj)}`);
    return { status: 'invalid', key: undefined, diagnostics };
  }
  if (!isRecord(meta) || typeof namespace !== 'string' || namespace === '' || typeof name !== 'string' || name === '') {
    warn('metadata.namespace and metadata.name must be non-empty strings; EndpointSlice ignored');
    return { status: 'invalid', key: undefined, diagnostics };
  }
  const key = `${namespace}/${name}`;
  const labels = meta.labels;
  if (isRecord(labels) && (LABEL_SERVICE_PROXY_NAME in labels || LABEL_HEADLESS in labels)) {
    return { status: 'skipped', key, reason: LABEL_SERVICE_PROXY_NAME in labels ? 'service-proxy-name' : 'headless-label', diagnostics };
  }
  const serviceName = isRecord(labels) ? labels[LABEL_SERVICE_NAME] : undefined;
  if (typeof serviceName !== 'string' || serviceName === '') {
    warn(`no ${LABEL_SERVICE_NAME} label; EndpointSlice ignored`);
    return { status: 'invalid', key, diagnostics };
  }
  let family: IPFamily;
  if (obj.addressType === 'IPv4') family = 4;
  else if (obj.addressType === 'IPv6') family = 6;
  else if (obj.addressType === 'FQDN') return { status: 'skipped', key, reason: 'fqdn', diagnostics };
  else {
    warn(`addressType ${show(obj.addressType)} is not IPv4, IPv6 or FQDN; EndpointSlice ignored`);
    return { status: 'invalid', key, diagnostics };
  }

  const ports: { name: string; protocol: Protocol; port: number }[] = [];
  if (obj.ports !== undefined && obj.ports !== null) {
    if (!Array.isArray(obj.ports)) warn(`ports ${show(obj.ports)} is not a list; ignored`);
    else {
      const seen = new Set<string>();
      obj.ports.forEach((p: unknown, i: number) => {
        const where = `ports[${i}]`;
        if (!isRecord(p)) {
          warn(`${where} is not an object; ignored`);
          return;
        }
        // The API server defaults name to "" and protocol to TCP.
        let portName = '';
        if (p.name !== undefined && p.name !== null) {
          if (typeof p.name !== 'string') {
            warn(`${where}.name ${show(p.name)} is not a string; ignored`);
            return;
          }
          portName = p.name;
        }
        let protocol: Protocol = 'TCP';
        if (p.protocol !== undefined && p.protocol !== null) {
          if (typeof p.protocol !== 'string' || !PROTOCOLS.has(p.protocol)) {
            warn(`${where}.protocol ${show(p.protocol)} is not TCP, UDP or SCTP; ignored`);
            return;
          }
          protocol = p.protocol as Protocol;
        }
        if (!isPortNumber(p.port)) {
          warn(`${where}.port ${show(p.port)} is not a port number (1-65535); ignored`);
          return;
        }
        const id = `${portName}/${protocol}`;
        if (seen.has(id)) {
          warn(`${where} duplicates the port name ${JSON.stringify(portName)} with protocol ${protocol}; ignored`);
          return;
        }
        seen.add(id);
        ports.push({ name: portName, protocol, port: p.port });
      });
    }
  }

  // One list per port, filled in one pass over the endpoints (the hot loop: no per-endpoint strings unless warning).
  const portKeys = ports.map((p) => portKey(p.port));
  const lists: ServiceEndpoint[][] = ports.map(() => []);
  if (obj.endpoints !== undefined && obj.endpoints !== null) {
    if (!Array.isArray(obj.endpoints)) warn(`endpoints ${show(obj.endpoints)} is not a list; ignored`);
    else {
      const list = obj.endpoints;
      for (let i = 0; i < list.length; i++) {
        const e: unknown = list[i];
        if (!isRecord(e)) {
          warn(`${at(i, '')} is not an object; ignored`);
          continue;
        }
        // kube-proxy uses addresses[0] only.
        const addresses = e.addresses;
        if (!Array.isArray(addresses) || addresses.length === 0) {
          warn(`${at(i, '')} has no addresses; ignored`);
          continue;
        }
        // Common case first: canonical IPv4 text in an IPv4 slice needs no parsing beyond its key.
        const raw = addresses[0];
        let ipText: string;
        let ipKey = family === 4 && typeof raw === 'string' ? fastV4Key(raw) : undefined;
        if (ipKey !== undefined) ipText = raw as string;
        else {
          const addr = toAddr(raw);
          if (!addr) {
            warn(`${at(i, '.addresses[0]')} ${show(raw)} is not an IP address; ignored`);
            continue;
          }
          if (addr.family !== family) {
            warn(`${at(i, '.addresses[0]')} ${addr.text} is not an ${obj.addressType} address; ignored`);
            continue;
          }
          ipText = addr.text;
          ipKey = addr.key;
        }
        let nodeName = '';
        if (typeof e.nodeName === 'string') nodeName = e.nodeName;
        else if (e.nodeName !== undefined && e.nodeName !== null) warn(`${at(i, '.nodeName')} ${show(e.nodeName)} is not a string; treated as unset`);
        // Unset conditions: ready and serving default to true, terminating to false (endpointslicecache.go).
        let ready = true;
        let serving = true;
        let terminating = false;
        const c = e.conditions;
        if (isRecord(c)) {
          if (typeof c.ready === 'boolean') ready = c.ready;
          else if (c.ready !== undefined && c.ready !== null) warn(`${at(i, '.conditions.ready')} ${show(c.ready)} is not a boolean; treated as unset`);
          if (typeof c.serving === 'boolean') serving = c.serving;
          else if (c.serving !== undefined && c.serving !== null) warn(`${at(i, '.conditions.serving')} ${show(c.serving)} is not a boolean; treated as unset`);
          if (typeof c.terminating === 'boolean') terminating = c.terminating;
          else if (c.terminating !== undefined && c.terminating !== null) warn(`${at(i, '.conditions.terminating')} ${show(c.terminating)} is not a boolean; treated as unset`);
        } else if (c !== undefined && c !== null) warn(`${at(i, '.conditions')} ${show(c)} is not an object; treated as unset`);
        let zoneHints: ReadonlySet<string> | undefined;
        let nodeHints: ReadonlySet<string> | undefined;
        const hints = e.hints;
        if (isRecord(hints)) {
          zoneHints = readHints(hints.forZones, 'forZones', at(i, ''), warn);
          nodeHints = readHints(hints.forNodes, 'forNodes', at(i, ''), warn);
        } else if (hints !== undefined && hints !== null) warn(`${at(i, '.hints')} ${show(hints)} is not an object; ignored`);
        for (let j = 0; j < ports.length; j++) {
          const port = ports[j]!.port;
          lists[j]!.push({
            ip: ipText,
            ipKey,
            port,
            key: ipKey + portKeys[j],
            nodeName,
            ready,
            serving,
            terminating,
            zoneHints,
            nodeHints,
            rs: { address: ipText, port, weight: 1 },
          });
        }
      }
    }
  }
  const slicePorts: SlicePort[] = ports.map((p, j) => ({ ...p, id: portId(p.name, p.protocol), endpoints: dedupEndpoints(lists[j]!) }));
  return { status: 'ok', key, diagnostics, slice: { key, serviceKey: `${namespace}/${serviceName}`, family, ports: slicePorts } };
}
