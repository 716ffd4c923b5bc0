// node:test reporter used inside the guest (`--test-reporter=<this file>`): one JSON line per test start, pass
// and fail, in node's reporting order, with failures reduced to message + stack. ./results.ts reads it back.

import type { ReporterEvent, SerializedError } from './results.js';

interface NodeTestEventData {
  name?: string;
  nesting?: number;
  skip?: string | boolean;
  todo?: string | boolean;
  details?: { duration_ms?: number; type?: string; error?: unknown };
}

interface NodeTestEvent {
  type: string;
  data?: NodeTestEventData;
}

function text(x: unknown): string {
  if (typeof x === 'string') return x;
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

/** node:test wraps what the test threw in an ERR_TEST_FAILURE whose `cause` is the real error. */
export function serializeTestError(err: unknown): SerializedError {
  if (!err || typeof err !== 'object') return { message: text(err) };
  const outer = err as { message?: string; stack?: string; failureType?: string; cause?: unknown };
  const cause = outer.cause;
  const failureType = outer.failureType;
  if (cause && typeof cause === 'object' && 'message' in cause) {
    const inner = cause as { message: string; stack?: string };
    const message = failureType === 'testCodeFailure' || !outer.message || outer.message === inner.message
      ? inner.message
      : `${outer.message}: ${inner.message}`;
    return { message, stack: inner.stack, failureType };
  }
  if (cause !== undefined && failureType === 'testCodeFailure') return { message: `thrown: ${text(cause)}`, failureType };
  return { message: outer.message ?? text(err), stack: outer.stack, failureType };
}

export function toReporterEvent(ev: NodeTestEvent): ReporterEvent | undefined {
  const kind = ev.type === 'test:start' ? 'start' : ev.type === 'test:pass' ? 'pass' : ev.type === 'test:fail' ? 'fail' : undefined;
  const d = ev.data;
  if (!kind || !d || typeof d.name !== 'string' || typeof d.nesting !== 'number') return undefined;
  const out: ReporterEvent = { event: kind, name: d.name, nesting: d.nesting };
  if (kind === 'start') return out;
  if (d.details?.type === 'suite') out.suite = true;
  if (d.skip !== undefined && d.skip !== false) out.skip = d.skip;
  if (d.todo !== undefined && d.todo !== false) out.todo = d.todo;
  if (typeof d.details?.duration_ms === 'number') out.durationMs = Math.round(d.details.duration_ms);
  if (kind === 'fail') out.error = serializeTestError(d.details?.error);
  return out;
}

export default async function* jsonLinesReporter(source: AsyncIterable<NodeTestEvent>): AsyncGenerator<string> {
  for await (const ev of source) {
    const r = toReporterEvent(ev);
    if (r) yield JSON.stringify(r) + '\n';
  }
}
