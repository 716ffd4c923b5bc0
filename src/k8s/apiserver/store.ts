// The embedded API server's storage: objects per resource type, one global resourceVersion counter (as
// etcd's revision), a bounded history of change events for watches to replay, and the write semantics
// of the real server (uid/creationTimestamp/generation set by the server, optimistic concurrency on
// resourceVersion, no-op updates that do not bump the version, status subresource split).
// Writes are synchronous and notify subscribers synchronously, so a watch that registers in the same
// tick as it replays history can never miss or duplicate an event.

import { randomUUID } from 'node:crypto';
import { jsonPatch, mergePatch, type Json } from './patch.js';
import { apiVersionOf, resourceByName, resourceForObject, RESOURCES, type ResourceType } from './resources.js';
import { matchesFields, matchesLabels, type FieldSelector, type LabelSelector } from './selectors.js';
import { DEFAULT_NODE_PORT_RANGE, DEFAULT_SERVICE_CIDRS, ServiceAllocator } from './services.js';
import { ApiError, errors } from './status.js';

export type Obj = Record<string, any>;
export type ChangeType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  rv: number;
  resource: ResourceType;
  type: ChangeType;
  /** The object after the change (for DELETED: its last state, carrying the deletion's resourceVersion). */
  object: Obj;
  /** The object before the change (MODIFIED, DELETED). */
  prev?: Obj;
}

export interface StoreOptions {
  /** How many change events watches can replay (older resourceVersions get 410 Gone). */
  historySize?: number;
  serviceCIDRs?: string[];
  nodePortRange?: string;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: LabelSelector;
  fieldSelector?: FieldSelector;
  limit?: number;
  continueToken?: string;
}

export interface ListResult {
  items: Obj[];
  resourceVersion: number;
  continueToken?: string;
  remainingItemCount?: number;
}

export type PatchType = 'merge' | 'strategic' | 'json';

export interface Preconditions {
  uid?: string;
  resourceVersion?: string;
}

function nowTimestamp(): string {
  // Kubernetes writes RFC 3339 timestamps with second precision.
  return new Date().toISOString().replace(/\.[0-9]{3}Z$/, 'Z');
}

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i]));
  }
  if (isObj(a) && isObj(b)) {
    const ka = Object.keys(a).filter((k) => a[k] !== undefined);
    const kb = Object.keys(b).filter((k) => b[k] !== undefined);
    if (ka.length !== kb.length) return false;
    return ka.every((k) => deepEqual(a[k], b[k]));
  }
  return false;
}

/** Everything except metadata and status: what a generation bump is about. */
function specPart(o: Obj): Obj {
  const { metadata: _m, status: _s, apiVersion: _a, kind: _k, ...rest } = o;
  return rest;
}

export function objectKey(r: ResourceType, namespace: string | undefined, name: string): string {
  return r.namespaced ? `${namespace ?? ''}/${name}` : name;
}

const GENERATE_NAME_CHARS = 'bcdfghjklmnpqrstvwxz2456789';

export class ObjectStore {
  private rv = 0;
  /** Highest resourceVersion whose change event is no longer replayable. */
  private compactedRv = 0;
  private readonly historySize: number;
  private history: StoreEvent[] = [];
  private readonly objects = new Map<ResourceType, Map<string, Obj>>();
  private readonly listeners = new Set<(ev: StoreEvent) => void>();
  private readonly services: ServiceAllocator;
  private readonly continuations = new Map<string, { items: Obj[]; rv: number }>();
  private continuationSeq = 0;

  constructor(opts: StoreOptions = {}) {
    this.historySize = opts.historySize ?? 10_000;
    for (const r of RESOURCES) this.objects.set(r, new Map());
    const svc = RESOURCES.find((r) => r.kind === 'Service')!;
    this.services = new ServiceAllocator(svc, {
      serviceCIDRs: opts.serviceCIDRs ?? DEFAULT_SERVICE_CIDRS,
      nodePortRange: opts.nodePortRange ?? DEFAULT_NODE_PORT_RANGE,
    });
  }

  /** The current (latest) resourceVersion. */
  get resourceVersion(): number {
    return this.rv;
  }

  /** Watches from a resourceVersion below this one get 410 Gone. */
  get oldestWatchableResourceVersion(): number {
    return this.compactedRv;
  }

  subscribe(fn: (ev: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Change events after `rv` for one resource type, or why they cannot be replayed. */
  eventsAfter(r: ResourceType, rv: number): { events: StoreEvent[] } | { expired: true } | { tooLarge: true } {
    if (rv > this.rv) return { tooLarge: true };
    if (rv < this.compactedRv) return { expired: true };
    const events: StoreEvent[] = [];
    // History is ordered by rv; walk from the end until we pass rv.
    let i = this.history.length;
    while (i > 0 && this.history[i - 1]!.rv > rv) i--;
    for (; i < this.history.length; i++) if (this.history[i]!.resource === r) events.push(this.history[i]!);
    return { events };
  }

  /** Expire the whole history: every watch from an older resourceVersion gets 410; lists still work. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
    this.continuations.clear();
  }

  // ---- reads --------------------------------------------------------------------------------------

  get(r: ResourceType, namespace: string | undefined, name: string): Obj {
    const o = this.objects.get(r)!.get(objectKey(r, namespace, name));
    if (!o) throw errors.notFound(r, name);
    return structuredClone(o);
  }

  /** Live (not copied) object, for the watch layer that only serialises it. */
  peek(r: ResourceType, namespace: string | undefined, name: string): Obj | undefined {
    return this.objects.get(r)!.get(objectKey(r, namespace, name));
  }

  /** Matching objects sorted by key (as etcd returns them). Items are the stored objects: do not mutate. */
  select(r: ResourceType, opts: ListOptions): Obj[] {
    const out: [string, Obj][] = [];
    for (const [k, o] of this.objects.get(r)!) {
      if (opts.namespace !== undefined && r.namespaced && o.metadata?.namespace !== opts.namespace) continue;
      if (!this.matches(o, opts)) continue;
      out.push([k, o]);
    }
    out.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return out.map((e) => e[1]);
  }

  matches(o: Obj, opts: { labelSelector?: LabelSelector; fieldSelector?: FieldSelector }): boolean {
    if (opts.labelSelector && !matchesLabels(opts.labelSelector, o.metadata?.labels)) return false;
    if (opts.fieldSelector && !matchesFields(opts.fieldSelector, o)) return false;
    return true;
  }

  list(r: ResourceType, opts: ListOptions = {}): ListResult {
    let items: Obj[];
    let rv: number;
    let offset = 0;
    if (opts.continueToken) {
      const parsed = this.parseContinue(opts.continueToken);
      const snap = parsed && this.continuations.get(parsed.id);
      if (!parsed || !snap) throw errors.continueExpired();
      items = snap.items;
      rv = snap.rv;
      offset = parsed.offset;
    } else {
      items = this.select(r, opts).map((o) => structuredClone(o));
      rv = this.rv;
    }
    if (!opts.limit || opts.limit <= 0 || offset + opts.limit >= items.length) {
      return { items: items.slice(offset), resourceVersion: rv };
    }
    // Paged list: keep a snapshot so every page is consistent with the first page's resourceVersion.
    let id: string;
    if (opts.continueToken) id = this.parseContinue(opts.continueToken)!.id;
    else {
      id = String(++this.continuationSeq);
      this.continuations.set(id, { items, rv });
      if (this.continuations.size > 64) this.continuations.delete(this.continuations.keys().next().value!);
    }
    const end = offset + opts.limit;
    return {
      items: items.slice(offset, end),
      resourceVersion: rv,
      continueToken: Buffer.from(JSON.stringify({ id, offset: end, rv })).toString('base64url'),
      remainingItemCount: items.length - end,
    };
  }

  private parseContinue(token: string): { id: string; offset: number } | undefined {
    try {
      const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8'));
      if (typeof v?.id === 'string' && Number.isInteger(v.offset) && v.offset >= 0) return { id: v.id, offset: v.offset };
    } catch {
      /* fall through */
    }
    return undefined;
  }

  // ---- writes (the HTTP verbs) -------------------------------------------------------------------

  create(r: ResourceType, namespace: string | undefined, body: unknown): Obj {
    if (!isObj(body)) throw errors.badRequest('the request body must be a JSON object');
    const obj = structuredClone(body) as Obj;
    this.checkTypeMeta(r, obj);
    const meta: Obj = (obj.metadata = isObj(obj.metadata) ? obj.metadata : {});
    if (r.namespaced) {
      if (meta.namespace && namespace && meta.namespace !== namespace) {
        throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace || meta.namespace || 'default';
    } else delete meta.namespace;
    if (!meta.name && typeof meta.generateName === 'string' && meta.generateName) meta.name = this.generateName(r, meta.namespace, meta.generateName);
    if (typeof meta.name !== 'string' || !meta.name) {
      throw errors.invalid(r, '', 'metadata.name', 'Required value: name or generateName is required');
    }
    const key = objectKey(r, meta.namespace, meta.name);
    const bucket = this.objects.get(r)!;
    if (bucket.has(key)) throw errors.alreadyExists(r, meta.name);
    if (meta.resourceVersion) throw errors.badRequest('resourceVersion should not be set on objects to be created');
    meta.uid = randomUUID();
    meta.creationTimestamp = nowTimestamp();
    delete meta.deletionTimestamp;
    if (r.tracksGeneration) meta.generation = 1;
    else delete meta.generation;
    return this.commit(r, key, obj, undefined);
  }

  update(r: ResourceType, namespace: string | undefined, name: string, body: unknown, subresource?: 'status'): Obj {
    if (!isObj(body)) throw errors.badRequest('the request body must be a JSON object');
    const obj = structuredClone(body) as Obj;
    this.checkTypeMeta(r, obj);
    const meta: Obj = (obj.metadata = isObj(obj.metadata) ? obj.metadata : {});
    if (meta.name !== undefined && meta.name !== name) {
      throw errors.badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${name})`);
    }
    if (r.namespaced && meta.namespace && namespace && meta.namespace !== namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const key = objectKey(r, namespace, name);
    const old = this.objects.get(r)!.get(key);
    if (!old) throw errors.notFound(r, name);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== '' && meta.resourceVersion !== old.metadata.resourceVersion) {
      throw errors.conflict(r, name);
    }
    return this.replace(r, key, old, obj, subresource);
  }

  patch(r: ResourceType, namespace: string | undefined, name: string, type: PatchType, body: unknown, subresource?: 'status'): Obj {
    const key = objectKey(r, namespace, name);
    const old = this.objects.get(r)!.get(key);
    if (!old) throw errors.notFound(r, name);
    let result: Json;
    try {
      // Patch a copy: mergePatch shares untouched subtrees with its target.
      const base = structuredClone(old) as Json;
      result = type === 'json' ? jsonPatch(base, body) : mergePatch(base, body as Json);
    } catch (e) {
      throw errors.badRequest(`the server rejected our request due to an error in our request: ${(e as Error).message}`);
    }
    if (!isObj(result)) throw errors.badRequest('the patch produced a non-object');
    const patched: Obj = result;
    const meta: Obj = isObj(patched.metadata) ? patched.metadata : (patched.metadata = {});
    // A patch that names a resourceVersion is a precondition (optimistic concurrency), as on the real server.
    const patchRv = type === 'json' ? meta.resourceVersion : (body as Obj)?.metadata?.resourceVersion;
    if (patchRv !== undefined && patchRv !== null && patchRv !== old.metadata.resourceVersion) throw errors.conflict(r, name);
    if (meta.name !== name) throw errors.badRequest('metadata.name cannot be changed by a patch');
    return this.replace(r, key, old, patched, subresource);
  }

  delete(r: ResourceType, namespace: string | undefined, name: string, preconditions?: Preconditions): Obj {
    const key = objectKey(r, namespace, name);
    const old = this.objects.get(r)!.get(key);
    if (!old) throw errors.notFound(r, name);
    if (preconditions?.uid && preconditions.uid !== old.metadata.uid) {
      throw errors.conflict(r, name, `Precondition failed: UID in precondition: ${preconditions.uid}, UID in object meta: ${old.metadata.uid}`);
    }
    if (preconditions?.resourceVersion && preconditions.resourceVersion !== old.metadata.resourceVersion) {
      throw errors.conflict(
        r,
        name,
        `Precondition failed: ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${old.metadata.resourceVersion}`,
      );
    }
    return this.commitDelete(r, key, old);
  }

  // ---- in-process API (tests, demo): no HTTP, no optimistic concurrency -----------------------------

  /** Create or replace an object given with apiVersion/kind (status included). Returns the stored copy. */
  apply(object: unknown): Obj {
    if (!isObj(object)) throw new Error('apply: object expected');
    const r = resourceForObject(object.apiVersion, object.kind);
    if (!r) throw new Error(`apply: unsupported apiVersion/kind ${String(object.apiVersion)}/${String(object.kind)}`);
    const meta = isObj(object.metadata) ? object.metadata : {};
    const namespace = r.namespaced ? (typeof meta.namespace === 'string' && meta.namespace ? meta.namespace : 'default') : undefined;
    const name = meta.name;
    const existing = typeof name === 'string' ? this.objects.get(r)!.get(objectKey(r, namespace, name)) : undefined;
    if (!existing) return this.create(r, namespace, { ...object, metadata: { ...meta, resourceVersion: undefined } });
    const obj = structuredClone(object) as Obj;
    obj.metadata = { ...structuredClone(meta), namespace };
    delete obj.metadata.resourceVersion;
    return this.replace(r, objectKey(r, namespace, name), existing, obj, 'all');
  }

  /** Delete by kind (or plural) and name; returns false when there was nothing to delete. */
  remove(kind: string, name: string, namespace?: string): boolean {
    const r = resourceByName(kind);
    if (!r) throw new Error(`remove: unknown kind ${kind}`);
    const key = objectKey(r, r.namespaced ? namespace ?? 'default' : undefined, name);
    const old = this.objects.get(r)!.get(key);
    if (!old) return false;
    this.commitDelete(r, key, old);
    return true;
  }

  /** Copies of all objects of one kind (or plural). */
  objectsOf(kind: string): Obj[] {
    const r = resourceByName(kind);
    if (!r) throw new Error(`unknown kind ${kind}`);
    return this.select(r, {}).map((o) => structuredClone(o));
  }

  // ---- internals --------------------------------------------------------------------------------

  private checkTypeMeta(r: ResourceType, obj: Obj): void {
    const av = apiVersionOf(r);
    if (obj.kind !== undefined && obj.kind !== r.kind) throw errors.badRequest(`the kind of the object (${obj.kind}) does not match the URL (${r.kind})`);
    if (obj.apiVersion !== undefined && obj.apiVersion !== av) {
      throw errors.badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${av})`);
    }
    obj.kind = r.kind;
    obj.apiVersion = av;
  }

  /**
   * Shared by PUT, PATCH and apply: keep server-owned metadata, honour the status split, skip no-ops,
   * bump generation. `subresource` "all" (in-process apply) replaces spec and status alike.
   */
  private replace(r: ResourceType, key: string, old: Obj, obj: Obj, subresource: 'status' | 'all' | undefined): Obj {
    let next = obj;
    next.kind = r.kind;
    next.apiVersion = apiVersionOf(r);
    if (r.statusSubresource && subresource === 'status') {
      // Status updates change only status (ResetObjectMetaForStatus + spec kept).
      next = { ...structuredClone(old), status: structuredClone(obj.status) };
    } else if (r.statusSubresource && subresource === undefined) {
      if (old.status === undefined) delete next.status;
      else next.status = structuredClone(old.status);
    }
    const meta: Obj = (next.metadata = isObj(next.metadata) ? next.metadata : {});
    meta.name = old.metadata.name;
    if (r.namespaced) meta.namespace = old.metadata.namespace;
    else delete meta.namespace;
    meta.uid = old.metadata.uid;
    meta.creationTimestamp = old.metadata.creationTimestamp;
    meta.resourceVersion = old.metadata.resourceVersion;
    if (r.tracksGeneration) meta.generation = old.metadata.generation ?? 1;
    else delete meta.generation;
    for (const k of ['labels', 'annotations'] as const) if (isObj(meta[k]) && Object.keys(meta[k]).length === 0) delete meta[k];
    if (r.kind === 'Service' && r.group === '') {
      try {
        this.services.release(key, old);
        this.services.prepare(key, next, old);
      } catch (e) {
        this.services.release(key, next);
        this.services.reserve(key, old);
        throw e;
      }
    }
    if (deepEqual(next, old)) {
      // The real server does not write (nor bump resourceVersion, nor notify watches) for a no-op update.
      if (r.kind === 'Service' && r.group === '') this.services.reserve(key, old);
      return structuredClone(old);
    }
    if (r.tracksGeneration && !deepEqual(specPart(next), specPart(old))) meta.generation = (old.metadata.generation ?? 1) + 1;
    return this.commit(r, key, next, old);
  }

  private generateName(r: ResourceType, namespace: string | undefined, prefix: string): string {
    const bucket = this.objects.get(r)!;
    for (;;) {
      let suffix = '';
      for (let i = 0; i < 5; i++) suffix += GENERATE_NAME_CHARS[Math.floor(Math.random() * GENERATE_NAME_CHARS.length)];
      const name = prefix.slice(0, 58) + suffix;
      if (!bucket.has(objectKey(r, namespace, name))) return name;
    }
  }

  private commit(r: ResourceType, key: string, obj: Obj, old: Obj | undefined): Obj {
    if (!old && r.kind === 'Service' && r.group === '') {
      try {
        this.services.prepare(key, obj, undefined);
      } catch (e) {
        this.services.release(key, obj);
        throw e;
      }
    }
    if (r.kind === 'Service' && r.group === '') this.services.reserve(key, obj);
    obj.metadata.resourceVersion = String(++this.rv);
    this.objects.get(r)!.set(key, obj);
    this.record({ rv: this.rv, resource: r, type: old ? 'MODIFIED' : 'ADDED', object: obj, prev: old });
    return structuredClone(obj);
  }

  private commitDelete(r: ResourceType, key: string, old: Obj): Obj {
    this.objects.get(r)!.delete(key);
    if (r.kind === 'Service' && r.group === '') this.services.release(key, old);
    // The DELETED event carries the object's last state with the deletion's resourceVersion.
    const last = structuredClone(old);
    last.metadata.resourceVersion = String(++this.rv);
    this.record({ rv: this.rv, resource: r, type: 'DELETED', object: last, prev: old });
    return structuredClone(last);
  }

  private record(ev: StoreEvent): void {
    this.history.push(ev);
    if (this.history.length > this.historySize) {
      // Trim in chunks so a long run stays O(1) amortised per write.
      const drop = Math.max(1, Math.floor(this.historySize / 10));
      const cut = Math.min(drop + this.history.length - this.historySize - 1, this.history.length);
      this.compactedRv = this.history[cut]!.rv;
      this.history = this.history.slice(cut + 1);
    }
    for (const fn of [...this.listeners]) {
      try {
        fn(ev);
      } catch {
        // A broken watcher must not break writes.
      }
    }
  }
}

export { ApiError };
