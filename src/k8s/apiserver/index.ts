// The embedded Kubernetes API server: public surface for tests, the sandbox demo and `kube-ipvs apiserver`.
export { EmbeddedApiServer, parseResourcePath, type ApiServerOptions, type ApiServerStats, type RequestRecord } from './server.js';
export { ObjectStore, type Obj, type StoreEvent, type StoreOptions, type ListOptions, type PatchType } from './store.js';
export { ApiError, errors as apiErrors, type StatusBody } from './status.js';
export { RESOURCES, resourceByName, resourceForObject, apiVersionOf, type ResourceType } from './resources.js';
export { parseLabelSelector, parseFieldSelector, matchesLabels, matchesFields } from './selectors.js';
export { kubeconfigYaml, writeKubeconfigFile, EMBEDDED_CONTEXT } from './kubeconfig.js';
export { runApiServerCommand, APISERVER_USAGE } from './command.js';
