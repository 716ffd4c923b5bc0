// state/: change trackers between the informers and a sync. See README.md.
export { ChangeTracker, type ChangeTrackerOptions, type PendingCounts, type SyncBatch } from './changes.js';
export { ServiceChangeTracker, type TrackerOptions, type TrackerUpdate } from './service-tracker.js';
export {
  EndpointSliceChangeTracker,
  LAST_CHANGE_TRIGGER_TIME,
  sliceServiceKey,
  type EndpointsTake,
  type EndpointsTrackerOptions,
  type ServiceEndpointsChange,
} from './endpoints-tracker.js';
export { NodeTracker, nodeEligible, TO_BE_DELETED_TAINT, type NodeChange } from './node-tracker.js';
export { objectKey, type ObjectChange } from './object-tracker.js';
export { endpointSliceSignature, serviceSignature, stableStringify, IGNORED_ANNOTATIONS } from './signature.js';
export { systemNow, type NowSource } from './clock.js';
