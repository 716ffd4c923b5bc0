// One watch stream of the embedded API server, with the semantics of kube-apiserver's watch cache:
// newline-delimited JSON events {type, object} on a chunked 200 response; replay from a resourceVersion
// out of the bounded history (ERROR 410 Expired when it is too old, ERROR 504 "Too large resource
// version" when it is newer than the server's); synthetic ADDED events for a watch without a version;
// selector transitions (an object that stops matching is DELETED, one that starts matching is ADDED);
// periodic BOOKMARKs when asked for with allowWatchBookmarks; the stream ends after timeoutSeconds.

import type { ServerResponse } from 'node:http';
import { apiVersionOf, type ResourceType } from './resources.js';
import type { FieldSelector, LabelSelector } from './selectors.js';
import { errors, type StatusBody } from './status.js';
import type { Obj, ObjectStore, StoreEvent } from './store.js';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchSpec {
  resource: ResourceType;
  namespace?: string;
  labelSelector?: LabelSelector;
  fieldSelector?: FieldSelector;
  bookmarks: boolean;
  timeoutMs: number;
  /** Send synthetic ADDED events for the current state first (watch without a resourceVersion). */
  initialEvents: boolean;
  /** sendInitialEvents=true: end the initial events with a BOOKMARK annotated k8s.io/initial-events-end. */
  initialEventsEndBookmark: boolean;
  /** Replay from this resourceVersion (exclusive) when initialEvents is false. */
  fromResourceVersion?: number;
}

export interface WatchCounters {
  eventsSent: number;
  bookmarksSent: number;
}

export class WatchStream {
  private closed = false;
  private frozen = false;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly counters: WatchCounters = { eventsSent: 0, bookmarksSent: 0 };

  constructor(
    private readonly res: ServerResponse,
    readonly spec: WatchSpec,
    private readonly store: ObjectStore,
    private readonly onClose: (w: WatchStream) => void,
  ) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Start streaming. Replay and subscription happen in the same synchronous step, so no change can slip
   * between them. Returns the Status when the watch failed at once (already written as an ERROR event).
   */
  start(): StatusBody | undefined {
    this.res.writeHead(200, {
      'Content-Type': 'application/json',
      'Cache-Control': 'no-cache, private',
      'Transfer-Encoding': 'chunked',
    });
    this.res.flushHeaders();
    this.res.on('close', () => this.finish());
    const { spec, store } = this;
    if (spec.initialEvents) {
      for (const o of store.select(spec.resource, spec)) this.write('ADDED', o);
      if (spec.initialEventsEndBookmark) this.bookmark({ 'k8s.io/initial-events-end': 'true' });
    } else if (spec.fromResourceVersion !== undefined) {
      const replay = store.eventsAfter(spec.resource, spec.fromResourceVersion);
      if ('expired' in replay || 'tooLarge' in replay) {
        const status =
          'expired' in replay
            ? errors.expired(spec.fromResourceVersion, store.oldestWatchableResourceVersion).status
            : errors.tooLarge(spec.fromResourceVersion, store.resourceVersion).status;
        this.fail(status);
        return status;
      }
      for (const ev of replay.events) this.deliver(ev);
    }
    this.unsubscribe = store.subscribe((ev) => {
      if (ev.resource === spec.resource) this.deliver(ev);
    });
    this.timer = setTimeout(() => this.end(), spec.timeoutMs);
    return undefined;
  }

  /** Write an ERROR event with a Status and end the stream (410 Expired, 504 too large, ...). */
  fail(status: StatusBody): void {
    if (this.closed) return;
    this.res.write(JSON.stringify({ type: 'ERROR', object: status }) + '\n');
    this.end();
  }

  /** Map a store change to what this watcher sees, selector transitions included. */
  private deliver(ev: StoreEvent): void {
    const { spec, store } = this;
    const inScope = (o: Obj | undefined) =>
      !!o && (spec.namespace === undefined || !spec.resource.namespaced || o.metadata?.namespace === spec.namespace) && store.matches(o, spec);
    switch (ev.type) {
      case 'ADDED':
        if (inScope(ev.object)) this.write('ADDED', ev.object);
        break;
      case 'MODIFIED': {
        const now = inScope(ev.object);
        const before = inScope(ev.prev);
        if (now && before) this.write('MODIFIED', ev.object);
        else if (now) this.write('ADDED', ev.object);
        else if (before) {
          // As the watch cache does: the object as it was before it left the selection, at the new version.
          const last = structuredClone(ev.prev!);
          last.metadata.resourceVersion = ev.object.metadata.resourceVersion;
          this.write('DELETED', last);
        }
        break;
      }
      case 'DELETED':
        if (inScope(ev.prev)) this.write('DELETED', ev.object);
        break;
    }
  }

  bookmark(annotations?: Record<string, string>): void {
    if (this.closed || this.frozen || !this.spec.bookmarks) return;
    const metadata: Obj = { resourceVersion: String(this.store.resourceVersion) };
    if (annotations) metadata.annotations = annotations;
    this.counters.bookmarksSent++;
    this.res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: this.spec.resource.kind, apiVersion: apiVersionOf(this.spec.resource), metadata } }) + '\n');
  }

  private write(type: WatchEventType, object: Obj): void {
    if (this.closed || this.frozen) return;
    this.counters.eventsSent++;
    this.res.write(JSON.stringify({ type, object }) + '\n');
  }

  /** Stop sending anything but keep the connection open (a silently dead watch, for watchdog tests). */
  freeze(): void {
    this.frozen = true;
  }

  /** Clean end of the stream (what a server-side timeout looks like to the client). */
  end(): void {
    if (this.closed) return;
    this.finish();
    this.res.end();
  }

  /** Abrupt end: the TCP connection is reset (what an outage looks like to the client). */
  destroy(): void {
    if (this.closed) return;
    this.finish();
    this.res.socket?.destroy();
    this.res.destroy();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe?.();
    if (this.timer) clearTimeout(this.timer);
    this.onClose(this);
  }
}
