// Per-Service IPVS scheduler (beyond kube-proxy, which has one global --ipvs-scheduler).
//
// Annotations, first match wins:
//   kube-ipvs.io/scheduler          + kube-ipvs.io/scheduler-flags
//   kube-router.io/service.scheduler + kube-router.io/service.schedflags   (so kube-router users migrate unchanged)
// Flags are a comma list of flag-1, flag-2, flag-3 = IP_VS_SVC_F_SCHED1/2/3 (0x08, 0x10, 0x20); for sh and mh they
// mean sh-fallback/mh-fallback (flag-1) and sh-port/mh-port (flag-2). Either flags annotation may accompany either
// scheduler annotation (kube-ipvs's own wins). No flags annotation: kube-proxy's rule, mh gets flag-2 (0x10).
// An empty flags annotation means "no flags". Anything unknown becomes a diagnostic and the global scheduler is used.

import { IPVS_SVC_FLAGS } from '../model/state.js';

export const ANNOTATION_SCHEDULER = 'kube-ipvs.io/scheduler';
export const ANNOTATION_SCHEDULER_FLAGS = 'kube-ipvs.io/scheduler-flags';
export const ANNOTATION_KUBE_ROUTER_SCHEDULER = 'kube-router.io/service.scheduler';
export const ANNOTATION_KUBE_ROUTER_SCHEDFLAGS = 'kube-router.io/service.schedflags';

/** Schedulers of the Linux kernel (net/netfilter/ipvs/ip_vs_*.c). */
export const KNOWN_SCHEDULERS: readonly string[] = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf', 'twos'];

/** Schedulers that read the SCHED1..3 flags. */
const FLAG_SCHEDULERS = new Set(['sh', 'mh']);

const FLAG_BITS: Record<string, number> = {
  'flag-1': IPVS_SVC_FLAGS.SCHED1,
  'flag-2': IPVS_SVC_FLAGS.SCHED2,
  'flag-3': IPVS_SVC_FLAGS.SCHED3,
};

/** Flags kube-proxy adds for a scheduler when nobody asked for any: `mh` gets FlagSourceHash (0x10). */
export function defaultSchedulerFlags(scheduler: string): number {
  return scheduler === 'mh' ? IPVS_SVC_FLAGS.SCHED2 : 0;
}

export interface SchedulerOverride {
  scheduler: string;
  /** Scheduler flag bits. */
  flags: number;
}

/** Resolves a Service's scheduler annotations; undefined = use the global scheduler. Problems go to `warn`. */
export function schedulerFromAnnotations(annotations: Record<string, string>, warn: (message: string) => void): SchedulerOverride | undefined {
  let schedAnnotation: string | undefined;
  if (annotations[ANNOTATION_SCHEDULER] !== undefined) schedAnnotation = ANNOTATION_SCHEDULER;
  else if (annotations[ANNOTATION_KUBE_ROUTER_SCHEDULER] !== undefined) schedAnnotation = ANNOTATION_KUBE_ROUTER_SCHEDULER;
  let flagsAnnotation: string | undefined;
  if (annotations[ANNOTATION_SCHEDULER_FLAGS] !== undefined) flagsAnnotation = ANNOTATION_SCHEDULER_FLAGS;
  else if (annotations[ANNOTATION_KUBE_ROUTER_SCHEDFLAGS] !== undefined) flagsAnnotation = ANNOTATION_KUBE_ROUTER_SCHEDFLAGS;
  if (schedAnnotation === undefined) {
    if (flagsAnnotation !== undefined) {
      warn(`annotation ${flagsAnnotation}=${JSON.stringify(annotations[flagsAnnotation])} ignored: it needs a scheduler annotation (${ANNOTATION_SCHEDULER}); using the global scheduler`);
    }
    return undefined;
  }
  const raw = annotations[schedAnnotation]!;
  const scheduler = raw.trim().toLowerCase();
  if (!KNOWN_SCHEDULERS.includes(scheduler)) {
    warn(`annotation ${schedAnnotation}=${JSON.stringify(raw)}: unknown IPVS scheduler (known: ${KNOWN_SCHEDULERS.join(', ')}); using the global scheduler`);
    return undefined;
  }
  if (flagsAnnotation === undefined) return { scheduler, flags: defaultSchedulerFlags(scheduler) };
  const rawFlags = annotations[flagsAnnotation]!;
  let flags = 0;
  for (const token of rawFlags.split(',')) {
    const t = token.trim().toLowerCase();
    if (t === '') continue;
    const bit = FLAG_BITS[t];
    if (bit === undefined) {
      warn(`annotation ${flagsAnnotation}=${JSON.stringify(rawFlags)}: unknown scheduler flag ${JSON.stringify(t)} (known: flag-1, flag-2, flag-3); using the global scheduler`);
      return undefined;
    }
    flags |= bit;
  }
  if (flags !== 0 && !FLAG_SCHEDULERS.has(scheduler)) {
    warn(`annotation ${flagsAnnotation}=${JSON.stringify(rawFlags)} ignored: scheduler ${scheduler} has no flags (only sh and mh use them)`);
    flags = 0;
  }
  return { scheduler, flags };
}
