// A minimal typed event emitter. Listener exceptions are caught and reported, never propagated: the
// informer callbacks run inside client-node's watch line handler, which swallows exceptions silently
// (`catch { /* ignore parse errors */ }`), so a throwing listener would otherwise skip the
// resourceVersion update of that event and lose the error.

export type EventMap = Record<string, unknown[]>;

type AnyListener = (...args: unknown[]) => void;

export class TypedEmitter<M extends { [K in keyof M]: unknown[] }> {
  private readonly listeners = new Map<keyof M, Set<AnyListener>>();

  constructor(private readonly onListenerError: (event: string, err: unknown) => void = () => {}) {}

  /** Subscribe; returns the unsubscribe function. */
  on<K extends keyof M>(event: K, fn: (...args: M[K]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    const l = fn as unknown as AnyListener;
    set.add(l);
    return () => set!.delete(l);
  }

  emit<K extends keyof M>(event: K, ...args: M[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (err) {
        this.onListenerError(String(event), err);
      }
    }
  }
}
