// Reading --objects files for the commands that take them (plan, sync, explain): a file that cannot be read or
// parsed is a usage error (exit 2) naming the file; notes about ignored objects go to stderr.

import { loadObjectFiles, ObjectsFileError, type LoadedObjects } from '../k8s/objects.js';
import { UsageError } from './errors.js';

export interface ObjectsIO {
  stderr: (text: string) => void;
  readFile?: (path: string) => string;
}

/** Loads the files; `required` names the command that cannot run without any. */
export function readObjectsOption(files: readonly string[], io: ObjectsIO, required?: string): LoadedObjects {
  if (required && files.length === 0) {
    throw new UsageError(`kube-ipvs ${required}: --objects FILE is required (a YAML or JSON file of Services, EndpointSlices and Nodes; repeat for several files)`);
  }
  let objects: LoadedObjects;
  try {
    objects = loadObjectFiles(files, io.readFile);
  } catch (err) {
    if (err instanceof ObjectsFileError) throw new UsageError(`--objects ${err.message}`);
    throw err;
  }
  for (const note of objects.notes) io.stderr(`note: ${note}\n`);
  return objects;
}
