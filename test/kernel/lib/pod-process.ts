// The pod program moved to src/sandbox/pod-process.ts (the sandbox demo runs the same pods); its reply type is
// re-exported here for tests that import it from this path.
export type { Reply } from '../../../src/sandbox/pod-process.js';
