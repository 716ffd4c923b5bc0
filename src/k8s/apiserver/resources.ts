// The resource types the embedded API server serves, with the per-type behaviour of the real server that
// clients can observe (scope, status subresource, what DELETE returns, which field selectors exist).

export interface ResourceType {
  /** URL plural ("services"); also the `details.kind` of Status errors, as the real server writes it. */
  plural: string;
  singular: string;
  kind: string;
  listKind: string;
  /** "" for the core group. */
  group: string;
  version: string;
  namespaced: boolean;
  /** PUT/PATCH on the main resource keep the old status; /status changes only status. */
  statusSubresource: boolean;
  /** metadata.generation starts at 1 and grows when anything but metadata/status changes. */
  tracksGeneration: boolean;
  /** DELETE answers with the deleted object (Services) instead of a Status (most others). */
  deleteReturnsObject: boolean;
  /** Field selectors the real server supports besides metadata.name / metadata.namespace. */
  fieldLabels: string[];
  shortNames: string[];
  verbs: string[];
}

export function apiVersionOf(r: Pick<ResourceType, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

const ALL_VERBS = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

export const RESOURCES: readonly ResourceType[] = [
  {
    plural: 'services',
    singular: 'service',
    kind: 'Service',
    listKind: 'ServiceList',
    group: '',
    version: 'v1',
    namespaced: true,
    statusSubresource: true,
    tracksGeneration: true,
    deleteReturnsObject: true,
    fieldLabels: ['spec.clusterIP', 'spec.type'],
    shortNames: ['svc'],
    verbs: ALL_VERBS,
  },
  {
    plural: 'endpointslices',
    singular: 'endpointslice',
    kind: 'EndpointSlice',
    listKind: 'EndpointSliceList',
    group: 'discovery.k8s.io',
    version: 'v1',
    namespaced: true,
    statusSubresource: false,
    tracksGeneration: true,
    deleteReturnsObject: false,
    fieldLabels: ['addressType'],
    shortNames: [],
    verbs: ALL_VERBS,
  },
  {
    plural: 'nodes',
    singular: 'node',
    kind: 'Node',
    listKind: 'NodeList',
    group: '',
    version: 'v1',
    namespaced: false,
    statusSubresource: true,
    tracksGeneration: false,
    deleteReturnsObject: false,
    fieldLabels: ['spec.unschedulable'],
    shortNames: ['no'],
    verbs: ALL_VERBS,
  },
  {
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    listKind: 'EventList',
    group: '',
    version: 'v1',
    namespaced: true,
    statusSubresource: false,
    tracksGeneration: false,
    deleteReturnsObject: false,
    fieldLabels: [
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ],
    shortNames: ['ev'],
    verbs: ALL_VERBS,
  },
  {
    // client-go's new event recorder (and kube-proxy since 1.19) writes events.k8s.io/v1 Events.
    plural: 'events',
    singular: 'event',
    kind: 'Event',
    listKind: 'EventList',
    group: 'events.k8s.io',
    version: 'v1',
    namespaced: true,
    statusSubresource: false,
    tracksGeneration: false,
    deleteReturnsObject: false,
    fieldLabels: ['regarding.kind', 'regarding.namespace', 'regarding.name', 'regarding.uid', 'reason', 'reportingController', 'type'],
    shortNames: ['ev'],
    verbs: ALL_VERBS,
  },
];

export function findResource(group: string, version: string, plural: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}

/** The resource an object belongs to, from its apiVersion and kind (for the in-process store API). */
export function resourceForObject(apiVersion: unknown, kind: unknown): ResourceType | undefined {
  if (typeof kind !== 'string') return undefined;
  const av = typeof apiVersion === 'string' && apiVersion ? apiVersion : undefined;
  return RESOURCES.find((r) => r.kind === kind && (av === undefined ? true : apiVersionOf(r) === av));
}

/** Resource by kind or plural, e.g. "Service", "services", "EndpointSlice" (core group first). */
export function resourceByName(name: string): ResourceType | undefined {
  const n = name.toLowerCase();
  return RESOURCES.find((r) => r.kind.toLowerCase() === n || r.plural === n || r.singular === n || r.shortNames.includes(n));
}
