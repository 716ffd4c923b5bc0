// pino JSON logs with kube-proxy's verbosity (-v / --v): 0-1 info, 2-3 debug, 4+ trace.
// Components get child loggers ({component: "syncer"}) so lines can be filtered.

import { pino, type Logger } from 'pino';

export type { Logger };

export function levelForVerbosity(v: number): 'info' | 'debug' | 'trace' {
  if (v >= 4) return 'trace';
  if (v >= 2) return 'debug';
  return 'info';
}

export function createLogger(verbosity = 0, destination: NodeJS.WritableStream | number = 2): Logger {
  const dest = typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination;
  return pino({ level: levelForVerbosity(verbosity), base: { pid: process.pid } }, dest as never);
}

/** A logger that drops everything (tests, pure callers that need one). */
export const silentLogger: Logger = pino({ level: 'silent' });
