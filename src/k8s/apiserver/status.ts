// metav1.Status bodies with the codes, reasons and messages the real API server uses, so clients
// (client-node's error handling, kubectl, our informers) see the same errors as against a real cluster.

import type { ResourceType } from './resources.js';

export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Success' | 'Failure';
  message?: string;
  reason?: string;
  details?: { name?: string; group?: string; kind?: string; uid?: string; causes?: { reason?: string; message?: string; field?: string }[] };
  code: number;
}

/** An error that the HTTP layer turns into a Status response (and a watch into an ERROR event). */
export class ApiError extends Error {
  constructor(readonly status: StatusBody) {
    super(status.message);
    this.name = 'ApiError';
  }
  get code(): number {
    return this.status.code;
  }
}

function failure(code: number, reason: string, message: string, details?: StatusBody['details']): ApiError {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) body.details = details;
  return new ApiError(body);
}

function detailsFor(r: ResourceType, name: string | undefined): StatusBody['details'] {
  const d: NonNullable<StatusBody['details']> = {};
  if (name) d.name = name;
  if (r.group) d.group = r.group;
  d.kind = r.plural;
  return d;
}

function qualified(r: ResourceType): string {
  return r.group ? `${r.plural}.${r.group}` : r.plural;
}

export const errors = {
  notFound: (r: ResourceType, name: string) => failure(404, 'NotFound', `${qualified(r)} "${name}" not found`, detailsFor(r, name)),
  alreadyExists: (r: ResourceType, name: string) =>
    failure(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, detailsFor(r, name)),
  conflict: (r: ResourceType, name: string, why = 'the object has been modified; please apply your changes to the latest version and try again') =>
    failure(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`, detailsFor(r, name)),
  badRequest: (message: string) => failure(400, 'BadRequest', message),
  invalid: (r: ResourceType, name: string, field: string, message: string) =>
    failure(422, 'Invalid', `${r.kind} "${name}" is invalid: ${field}: ${message}`, {
      ...detailsFor(r, name),
      kind: r.kind,
      causes: [{ reason: 'FieldValueInvalid', message, field }],
    }),
  methodNotAllowed: (message = 'the server does not allow this method on the requested resource') => failure(405, 'MethodNotAllowed', message),
  unsupportedMediaType: (contentType: string) =>
    failure(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json (got ${contentType})`),
  /** What the watch cache sends when a watch starts from a resourceVersion that left the history window. */
  expired: (requested: number, oldest: number) => failure(410, 'Expired', `too old resource version: ${requested} (${oldest})`),
  /** What the watch cache sends when a watch asks for a resourceVersion newer than any it has seen. */
  tooLarge: (requested: number, current: number) =>
    failure(504, 'Timeout', `Too large resource version: ${requested}, current: ${current}`, {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    }),
  continueExpired: () =>
    failure(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'),
  pathNotFound: (path: string) => failure(404, 'NotFound', `the server could not find the requested resource (${path})`, {}),
  internal: (message: string) => failure(500, 'InternalError', `Internal error occurred: ${message}`),
  unavailable: (message: string) => failure(503, 'ServiceUnavailable', message),
};

export function successStatus(r: ResourceType, name: string, uid: string | undefined): StatusBody {
  const details = detailsFor(r, name)!;
  if (uid) details.uid = uid;
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details, code: 200 };
}
