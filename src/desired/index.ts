// desired/: the pure desired-state computation (README.md in this folder).
//   computeDesiredState(input) - the whole plan document of one node, from scratch.
//   DesiredStateBuilder         - the same, kept up to date incrementally, with deltas for event-driven syncs.
import type { ApiEndpointSlice, ApiService } from '../model/api.js';
import type { DesiredState, Diagnostic } from '../model/state.js';
import { DesiredStateBuilder } from './builder.js';
import { isRecord, show } from './json.js';
import type { DesiredInput } from './types.js';

export type { DesiredInput, NodeContext } from './types.js';
export { DesiredStateBuilder, type BuilderOptions, type DesiredDelta } from './builder.js';
export type { ServiceContribution, VsClaim, VsKind, SetEntry, KeyedText, OutFilterRule } from './contribution.js';
export {
  ANNOTATION_SCHEDULER,
  ANNOTATION_SCHEDULER_FLAGS,
  ANNOTATION_KUBE_ROUTER_SCHEDULER,
  ANNOTATION_KUBE_ROUTER_SCHEDFLAGS,
  KNOWN_SCHEDULERS,
} from './scheduler.js';

/** Computes the whole desired state of one node (both IP families). Pure; never throws on bad input. */
export function computeDesiredState(input: DesiredInput): DesiredState {
  return loadDesiredInput(input).builder.build();
}

/** What computeDesiredState computes from: the objects it keeps (one per namespace/name) and the builder holding them. */
export interface LoadedDesiredInput {
  builder: DesiredStateBuilder;
  services: ApiService[];
  endpointSlices: ApiEndpointSlice[];
}

/** computeDesiredState's first half, shared with explain (which must see exactly the objects the plan used). */
export function loadDesiredInput(input: DesiredInput): LoadedDesiredInput {
  const i: Partial<DesiredInput> = isRecord(input) ? input : {};
  const builder = new DesiredStateBuilder(i.node ?? { nodeName: '', nodeAddresses: [] }, i.config!, { trackChanges: false });
  const diagnostics: Diagnostic[] = [];
  const services = unique(i.services ?? [], 'Service', diagnostics);
  const endpointSlices = unique(i.endpointSlices ?? [], 'EndpointSlice', diagnostics);
  for (const svc of services) builder.upsertService(svc);
  for (const slice of endpointSlices) builder.upsertEndpointSlice(slice);
  builder.setDiagnostics('input', diagnostics);
  return { builder, services, endpointSlices };
}

/**
 * The objects of a list, one per namespace/name. A list that holds the same object twice is not something the API
 * server can produce; one copy is kept (the same one whatever the input order) and a diagnostic says so.
 */
function unique<T>(list: readonly T[], kind: string, diagnostics: Diagnostic[]): T[] {
  if (!Array.isArray(list)) {
    if (list !== undefined && list !== null) diagnostics.push({ object: `${kind}/<input>`, kind, message: `the ${kind} list is not a list: ${show(list)}` });
    return [];
  }
  const byKey = new Map<string, T[]>();
  const out: T[] = [];
  for (const obj of list) {
    const meta = isRecord(obj) ? obj.metadata : undefined;
    const key = isRecord(meta) && typeof meta.namespace === 'string' && typeof meta.name === 'string' ? `${meta.namespace}/${meta.name}` : undefined;
    if (key === undefined) {
      out.push(obj); // invalid: becomes a diagnostic downstream
      continue;
    }
    const group = byKey.get(key);
    if (group) group.push(obj);
    else byKey.set(key, [obj]);
  }
  for (const [key, group] of byKey) {
    if (group.length === 1) {
      out.push(group[0]!);
      continue;
    }
    let best: T = group[0]!;
    let bestText = JSON.stringify(best) ?? '';
    for (const obj of group.slice(1)) {
      const text = JSON.stringify(obj) ?? '';
      if (text > bestText) {
        best = obj;
        bestText = text;
      }
    }
    out.push(best);
    diagnostics.push({ object: key, kind, message: `${group.length} ${kind} objects named ${key} in the input; one is used` });
  }
  return out;
}
