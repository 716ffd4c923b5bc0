// The `watch` object handed to client-node 1.4.0's ListWatch, wrapping its Watch to fix what the informer
// gets wrong on its own (shared/reference/dependencies.md §1.3):
//   - asks for bookmarks (allowWatchBookmarks=true; ListWatch never does) and a server-side timeout;
//   - a watchdog: 1.4.0's 30 s request timeout is dead code, so a half-open watch would hang until TCP
//     keepalive notices. A watch silent for `watchdogMs` (no event, no bookmark, or no response headers)
//     is torn down (its private agent's sockets destroyed) and ListWatch re-watches from its resourceVersion;
//   - no tight reconnect loop: 1.4.0 re-watches at once after a close, so a server that accepts and closes
//     immediately would spin; a watch that ended without a single event delays the next one (backoff);
//   - an error after the stream was established (connection reset mid-stream) counts as a close, so
//     ListWatch simply re-watches instead of stopping with an `error` (client-go does the same);
//   - an ERROR event "Too large resource version" (504) is turned into 410, so ListWatch relists as
//     client-go does, instead of re-watching the same version forever;
//   - after our own abort (stop(), watchdog) nothing more reaches ListWatch: no late events that could move
//     its resourceVersion backwards, no `done` that would start a second watch;
//   - the returned AbortController is handed back at once (the real one only exists once response headers
//     arrive), so stop() can always cancel, even a watch whose request hangs.

import type { Agent } from 'node:http';
import type { KubeConfig, Watch } from '@kubernetes/client-node';
import { Backoff, type BackoffOptions } from './backoff.js';

type WatchCtor = new (config: KubeConfig) => Watch;
type Query = Record<string, string | number | boolean | undefined>;
type EventCallback = (phase: string, apiObj: any, watchObj?: any) => void;
type DoneCallback = (err: any) => void;

export interface WatchCounters {
  watchesStarted: number;
  /** Watches that failed: HTTP errors, connection errors, ERROR events other than 410. */
  watchErrors: number;
  /** 410 Gone / Expired (and "too large resource version"): the informer relists. */
  expired: number;
  watchdogResets: number;
  events: number;
  bookmarks: number;
}

export interface WatchAdapterHooks {
  /** True once the informer was stopped on purpose: start nothing, report nothing. */
  isStopped(): boolean;
  /** Called synchronously when ListWatch starts a watch (it does so right after processing a list). */
  beforeWatch(): void;
  /** The watch stream is established (HTTP 200). */
  onConnected(): void;
  counters: WatchCounters;
}

export interface WatchAdapterOptions {
  /** Sent as timeoutSeconds: the server ends the watch cleanly after this long (client-go: 5-10 min). */
  timeoutSeconds: number;
  /** A watch that receives nothing for this long is replaced. Must exceed the server's bookmark interval. */
  watchdogMs: number;
  /** Delay before re-watching after a watch that delivered nothing. */
  emptyWatchBackoff: BackoffOptions;
  allowWatchBookmarks?: boolean;
}

function isGone(err: any): boolean {
  return !!err && (err.statusCode === 410 || err.code === 410);
}

function isTooLargeResourceVersion(status: any): boolean {
  if (!status || typeof status !== 'object') return false;
  const causes: any[] = Array.isArray(status.details?.causes) ? status.details.causes : [];
  return causes.some((c) => c?.reason === 'ResourceVersionTooLarge') || /too large resource version/i.test(String(status.message ?? ''));
}

export class ResilientWatch {
  private readonly emptyBackoff: Backoff;
  /** Consecutive watches that ended without delivering anything. */
  private emptyWatches = 0;

  constructor(
    private readonly WatchClass: WatchCtor,
    private readonly kc: KubeConfig,
    private readonly hooks: WatchAdapterHooks,
    private readonly opts: WatchAdapterOptions,
  ) {
    this.emptyBackoff = new Backoff(opts.emptyWatchBackoff);
  }

  /** Same contract as client-node's Watch.watch(); `done` is called at most once, never synchronously. */
  async watch(path: string, queryParams: Query, callback: EventCallback, done: DoneCallback): Promise<AbortController> {
    const outer = new AbortController();
    if (this.hooks.isStopped()) return outer;
    this.hooks.beforeWatch();
    const counters = this.hooks.counters;
    const query: Query = { ...queryParams, timeoutSeconds: this.opts.timeoutSeconds };
    if (this.opts.allowWatchBookmarks !== false) query.allowWatchBookmarks = true;

    let finished = false;
    let established = false;
    let sawEvent = false;
    let agent: Agent | undefined;
    let inner: AbortController | undefined;
    let watchdog: NodeJS.Timeout | undefined;

    const teardown = () => {
      if (watchdog) clearTimeout(watchdog);
      inner?.abort();
      // Destroying the watch's private agent also kills a request still waiting for response headers.
      agent?.destroy();
    };
    const finish = (err: any) => {
      if (finished) return;
      finished = true;
      teardown();
      if (this.hooks.isStopped() || outer.signal.aborted) return;
      if (err && isGone(err)) {
        counters.expired++;
        done(err);
      } else if (err && !established) {
        // ListWatch reports it as `error` and stops; the informer restarts it with its own backoff.
        counters.watchErrors++;
        done(err);
      } else {
        if (err) counters.watchErrors++;
        // ListWatch re-watches at once: if this watch brought nothing, make the next one wait.
        if (!sawEvent) this.emptyWatches++;
        done(null);
      }
    };
    outer.signal.addEventListener('abort', () => {
      if (finished) return;
      finished = true;
      teardown();
    });

    const delay = this.emptyWatches > 0 ? this.emptyBackoff.delayFor(this.emptyWatches - 1) : 0;
    const startInner = () => {
      if (finished || outer.signal.aborted || this.hooks.isStopped()) return;
      counters.watchesStarted++;
      watchdog = setTimeout(() => {
        if (finished) return;
        counters.watchdogResets++;
        finish(null);
      }, this.opts.watchdogMs);
      watchdog.unref();
      // A config shim per watch: captures the agent client-node creates for this request.
      const shim = {
        getCurrentCluster: () => this.kc.getCurrentCluster(),
        applyToFetchOptions: async (o: any) => {
          const r = await this.kc.applyToFetchOptions(o);
          agent = r.agent as Agent | undefined;
          if (finished) agent?.destroy();
          return r;
        },
      } as unknown as KubeConfig;
      const w = new this.WatchClass(shim);
      const onEvent: EventCallback = (phase, obj, raw) => {
        if (finished) return;
        watchdog?.refresh();
        sawEvent = true;
        this.emptyWatches = 0;
        if (phase === 'BOOKMARK') counters.bookmarks++;
        else if (phase === 'ERROR') {
          if (obj?.code === 410) counters.expired++;
          else if (isTooLargeResourceVersion(obj)) {
            counters.expired++;
            obj = { ...obj, code: 410 };
          } else counters.watchErrors++;
        } else counters.events++;
        callback(phase, obj, raw);
      };
      w.watch(path, query, onEvent, finish).then(
        (ctrl) => {
          inner = ctrl;
          if (finished) {
            ctrl.abort();
            return;
          }
          established = true;
          watchdog?.refresh();
          this.hooks.onConnected();
        },
        (err) => finish(err),
      );
    };
    // Never call back synchronously: ListWatch assigns the returned controller after this resolves.
    if (delay > 0) setTimeout(startInner, delay);
    else setImmediate(startInner);
    return outer;
  }
}
