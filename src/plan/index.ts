// Public surface of the planner (pure: no I/O, no clock, no randomness). See README.md.
export type {
  Op,
  OpKind,
  FamilyName,
  TableName,
  VirtualServerRef,
  VirtualServerParams,
  VirtualServerSpec,
  RealServerRef,
  RealServerSpec,
  JumpRule,
  WeightChangeReason,
  RealServerDeleteReason,
  EnsureLinkOp,
  DeleteLinkOp,
  AddAddressOp,
  DelAddressOp,
  IpsetCreateOp,
  IpsetAddOp,
  IpsetDelOp,
  IpsetDestroyOp,
  IptablesRestoreOp,
  EnsureJumpRulesOp,
  DeleteJumpRulesOp,
  AddServiceOp,
  EditServiceOp,
  DelServiceOp,
  AddRealServerOp,
  EditRealServerOp,
  DelRealServerOp,
} from './ops.js';
export { OP_KINDS, FAMILY_NAMES, TABLE_NAMES, ops, opIds, describeOp, realServerRefKey } from './ops.js';
export type { Plan } from './plan.js';
export { computePlan } from './plan.js';
export type { PlanOptions, PlanScope, IptablesTableRef } from './options.js';
export { scopeOf, mergeScopes } from './options.js';
export type { DrainingRealServer } from './diff-ipvs.js';
export type { RemovalDecision } from './graceful.js';
export { decideRealServerRemoval } from './graceful.js';
export type { Ownership } from './ownership.js';
export { ownershipOf, isKubeName } from './ownership.js';
export { normalizeIpsetEntry } from './normalize.js';
export { referencedSets, jumpRulesFor } from './diff-iptables.js';
export { opsToSkip } from './skip.js';
export { planCleanup, deleteChainsText } from './cleanup.js';
export type { SimulationOptions, SimulationResult } from './simulate.js';
export { applyOps } from './simulate.js';
export type { PlanCounts } from './summary.js';
export { countOps, formatCounts, summarizeOps, isEmptyPlan } from './summary.js';
