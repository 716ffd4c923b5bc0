// The subset of Kubernetes API objects kube-ipvs reads, as plain JSON shapes.
// Informer objects, YAML files and the embedded API server all produce these shapes; nothing here
// is trusted: every field may be missing or of the wrong type, and desired/ validates before use.

export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
  creationTimestamp?: string;
}

export interface ApiServicePort {
  name?: string;
  protocol?: string; // TCP | UDP | SCTP (default TCP)
  port?: number;
  targetPort?: number | string;
  nodePort?: number;
  appProtocol?: string;
}

export interface ApiLoadBalancerIngress {
  ip?: string;
  hostname?: string;
  ipMode?: string; // VIP | Proxy
}

export interface ApiService {
  apiVersion?: string;
  kind?: 'Service' | string;
  metadata?: ObjectMeta;
  spec?: {
    type?: string; // ClusterIP | NodePort | LoadBalancer | ExternalName
    clusterIP?: string;
    clusterIPs?: string[];
    ipFamilies?: string[];
    ipFamilyPolicy?: string;
    ports?: ApiServicePort[];
    externalIPs?: string[];
    loadBalancerIP?: string;
    loadBalancerSourceRanges?: string[];
    externalTrafficPolicy?: string; // Cluster | Local
    internalTrafficPolicy?: string; // Cluster | Local
    healthCheckNodePort?: number;
    sessionAffinity?: string; // None | ClientIP
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    externalName?: string;
    trafficDistribution?: string;
    selector?: Record<string, string>;
  };
  status?: { loadBalancer?: { ingress?: ApiLoadBalancerIngress[] } };
}

export interface ApiEndpointConditions {
  ready?: boolean | null;
  serving?: boolean | null;
  terminating?: boolean | null;
}

export interface ApiEndpoint {
  addresses?: string[];
  conditions?: ApiEndpointConditions;
  hostname?: string;
  nodeName?: string;
  zone?: string;
  hints?: { forZones?: { name?: string }[]; forNodes?: { name?: string }[] };
  targetRef?: { kind?: string; name?: string; namespace?: string; uid?: string };
}

export interface ApiEndpointPort {
  name?: string;
  protocol?: string;
  port?: number;
  appProtocol?: string;
}

export interface ApiEndpointSlice {
  apiVersion?: string;
  kind?: 'EndpointSlice' | string;
  metadata?: ObjectMeta;
  addressType?: string; // IPv4 | IPv6 | FQDN
  endpoints?: ApiEndpoint[];
  ports?: ApiEndpointPort[];
}

export interface ApiNode {
  apiVersion?: string;
  kind?: 'Node' | string;
  metadata?: ObjectMeta;
  spec?: {
    podCIDR?: string;
    podCIDRs?: string[];
    taints?: { key?: string; value?: string; effect?: string }[];
    unschedulable?: boolean;
  };
  status?: { addresses?: { type?: string; address?: string }[] };
}

/** Label on EndpointSlices naming their Service. */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
/** Services (and their slices) with this label belong to another proxy; kube-proxy skips them. */
export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
/** Headless marker label on EndpointSlices / Services. */
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
/** The label selector kube-proxy applies to Services and EndpointSlices alike. */
export const PROXY_LABEL_SELECTOR = `!${LABEL_HEADLESS},!${LABEL_SERVICE_PROXY_NAME}`;
