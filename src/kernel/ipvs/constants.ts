// IPVS generic netlink numbers, from include/uapi/linux/ip_vs.h (Linux 6.1; the protocol is frozen uapi).
// `as const` objects rather than const enums: files compile one by one (isolatedModules).

export const IPVS_GENL_NAME = 'IPVS';
/** genlmsghdr.version to send. */
export const IPVS_GENL_VERSION = 1;

export const IPVS_CMD = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  NEW_DAEMON: 9,
  DEL_DAEMON: 10,
  GET_DAEMON: 11,
  SET_CONFIG: 12,
  GET_CONFIG: 13,
  SET_INFO: 14,
  GET_INFO: 15,
  ZERO: 16,
  FLUSH: 17,
} as const;

/** Top-level attributes of every IPVS message. */
export const IPVS_CMD_ATTR = {
  SERVICE: 1,
  DEST: 2,
  DAEMON: 3,
  TIMEOUT_TCP: 4,
  TIMEOUT_TCP_FIN: 5,
  TIMEOUT_UDP: 6,
} as const;

export const IPVS_SVC_ATTR = {
  AF: 1, // u16
  PROTOCOL: 2, // u16
  ADDR: 3, // 16 bytes (union nf_inet_addr); the kernel accepts fewer and always returns 16
  PORT: 4, // be16
  FWMARK: 5, // u32
  SCHED_NAME: 6, // NUL-terminated, at most 15 characters
  FLAGS: 7, // struct ip_vs_flags { u32 flags; u32 mask }
  TIMEOUT: 8, // u32 seconds
  NETMASK: 9, // IPv4: be32 mask; IPv6: u32 prefix length (host order)
  STATS: 10, // nested IPVS_STATS_ATTR_*, 32-bit
  PE_NAME: 11, // NUL-terminated
  STATS64: 12, // nested IPVS_STATS_ATTR_*, 64-bit
} as const;

export const IPVS_DEST_ATTR = {
  ADDR: 1,
  PORT: 2, // be16
  FWD_METHOD: 3, // u32 (IP_VS_CONN_F_FWD_MASK bits)
  WEIGHT: 4, // u32 (an int in the kernel; 0 = quiesced)
  U_THRESH: 5,
  L_THRESH: 6,
  ACTIVE_CONNS: 7,
  INACT_CONNS: 8,
  PERSIST_CONNS: 9,
  STATS: 10,
  ADDR_FAMILY: 11, // u16
  STATS64: 12,
  TUN_TYPE: 13, // u8
  TUN_PORT: 14, // be16
  TUN_FLAGS: 15, // u16
} as const;

/** Inside STATS (u32 except the byte counters) and STATS64 (all u64). */
export const IPVS_STATS_ATTR = {
  CONNS: 1,
  INPKTS: 2,
  OUTPKTS: 3,
  INBYTES: 4,
  OUTBYTES: 5,
  CPS: 6,
  INPPS: 7,
  OUTPPS: 8,
  INBPS: 9,
  OUTBPS: 10,
  PAD: 11,
} as const;

export const IPVS_INFO_ATTR = {
  VERSION: 1,
  CONN_TAB_SIZE: 2,
} as const;

export const AF = { INET: 2, INET6: 10 } as const;
export const IPPROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const;

/** IP_VS_CONN_F_* forwarding methods (the low 3 bits of a destination's conn flags). */
export const IPVS_FWD = {
  MASQ: 0, // NAT: what kube-proxy uses
  LOCALNODE: 1,
  TUNNEL: 2,
  DROUTE: 3,
  BYPASS: 4,
} as const;
export const IPVS_FWD_MASK = 0x7;

export type ForwardMethod = 'masq' | 'local' | 'tunnel' | 'droute' | 'bypass';
export const FORWARD_METHODS: Readonly<Record<ForwardMethod, number>> = {
  masq: IPVS_FWD.MASQ,
  local: IPVS_FWD.LOCALNODE,
  tunnel: IPVS_FWD.TUNNEL,
  droute: IPVS_FWD.DROUTE,
  bypass: IPVS_FWD.BYPASS,
};

export const IPVS_TUN_TYPE = { IPIP: 0, GUE: 1, GRE: 2 } as const;

/** IP_VS_SVC_F_* (the same table as model/state.ts IPVS_SVC_FLAGS, re-exported for the driver). */
export { IPVS_SVC_FLAGS } from '../../model/state.js';

/** The kernel's IP_VS_SCHEDNAME_MAXLEN (16, NUL included) and IP_VS_PENAME_MAXLEN. */
export const SCHED_NAME_MAXLEN = 16;
export const PE_NAME_MAXLEN = 16;

/** Schedulers mainline Linux ships (twos since 6.2); which ones a kernel has depends on its modules. */
export const KNOWN_SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf', 'twos'] as const;
