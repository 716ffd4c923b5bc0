# kube-ipvs container image: runs on every Linux node as a DaemonSet (deploy/, charts/kube-ipvs).
#
#   docker build -t kube-ipvs:0.1.0 .
#
# Two stages: `build` compiles the TypeScript and drops dev dependencies; `runtime` is a slim Debian with
# node 20 and the kernel tools kube-ipvs drives (iptables-restore, ipset restore, conntrack, modprobe).
# Both stages use the same base image so node_modules built in one run unchanged in the other.

FROM node:20-bookworm-slim AS build
WORKDIR /opt/kube-ipvs
# .npmrc carries ignore-scripts: netlink ships prebuilt N-API binaries, nothing needs a compiler here.
COPY package.json package-lock.json .npmrc ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
# Only src/ is copied, so `tsc` emits dist/src and nothing from test/ or bench/.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim AS runtime
# iptables: Debian's package ships BOTH backends (iptables-legacy and iptables-nft, switched by
#   update-alternatives); the node's kubelet decides which one is in use, so both must be present.
# ipset, iproute2 (ip, for diagnostics), kmod (modprobe ip_vs*), conntrack (UDP flow cleanup),
# ipvsadm (not used by kube-ipvs itself; lets operators run `ipvsadm -Ln` through kubectl exec).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      iptables \
      ipset \
      iproute2 \
      kmod \
      conntrack \
      ipvsadm \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*

ENV NODE_ENV=production
WORKDIR /opt/kube-ipvs
COPY --from=build /opt/kube-ipvs/package.json ./package.json
COPY --from=build /opt/kube-ipvs/node_modules ./node_modules
COPY --from=build /opt/kube-ipvs/dist ./dist
COPY --from=build /opt/kube-ipvs/bin ./bin
# bin/kube-ipvs finds dist/ relative to its real path, so a symlink on PATH is enough.
RUN ln -s /opt/kube-ipvs/bin/kube-ipvs /usr/local/bin/kube-ipvs

LABEL org.opencontainers.image.title="kube-ipvs" \
      org.opencontainers.image.description="Kubernetes service proxy that replaces kube-proxy's IPVS mode" \
      org.opencontainers.image.licenses="Apache-2.0"

# Runs as root: programming IPVS, iptables and sysctls needs CAP_NET_ADMIN/CAP_SYS_MODULE on the host
# network namespace; the DaemonSet runs the container privileged.
ENTRYPOINT ["kube-ipvs"]
