// Netlink and generic-netlink numbers from the kernel's uapi headers (linux/netlink.h, linux/genetlink.h).
// Plain `as const` objects, not const enums: files are compiled one by one (isolatedModules).

export const NETLINK_GENERIC = 16;

/** Sizes of the fixed headers, in bytes. */
export const NLMSG_HDRLEN = 16; // struct nlmsghdr { u32 len; u16 type; u16 flags; u32 seq; u32 pid }
export const GENL_HDRLEN = 4; // struct genlmsghdr { u8 cmd; u8 version; u16 reserved }
export const NLA_HDRLEN = 4; // struct nlattr { u16 len; u16 type }

/** Message types every netlink family shares (types below 0x10 are reserved for control). */
export const NLMSG = {
  NOOP: 1,
  ERROR: 2,
  DONE: 3,
  OVERRUN: 4,
} as const;

export const NLM_F = {
  REQUEST: 0x1,
  MULTI: 0x2,
  ACK: 0x4,
  ECHO: 0x8,
  DUMP_INTR: 0x10,
  DUMP_FILTERED: 0x20,
  // GET requests
  ROOT: 0x100,
  MATCH: 0x200,
  DUMP: 0x300,
  // flags of an NLMSG_ERROR ack
  CAPPED: 0x100,
  ACK_TLVS: 0x200,
} as const;

/** Attribute type bits: the kernel may set these on the type field; the type itself is the low 14 bits. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;

/** nlctrl, the generic netlink controller: resolves family names to ids. */
export const GENL_ID_CTRL = 0x10;
export const CTRL_VERSION = 2;
export const CTRL_CMD = {
  NEWFAMILY: 1,
  DELFAMILY: 2,
  GETFAMILY: 3,
} as const;
export const CTRL_ATTR = {
  FAMILY_ID: 1,
  FAMILY_NAME: 2,
  VERSION: 3,
  HDRSIZE: 4,
  MAXATTR: 5,
  OPS: 6,
  MCAST_GROUPS: 7,
} as const;
