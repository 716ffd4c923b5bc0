// Generic netlink family resolution by name through nlctrl (CTRL_CMD_GETFAMILY), e.g. "IPVS" -> 28.
// Family ids are dynamic: they differ between kernels and boots, never hard-code one.

import { AttrIndex, AttrWriter } from './attributes.js';
import { CTRL_ATTR, CTRL_CMD, CTRL_VERSION, GENL_HDRLEN, GENL_ID_CTRL } from './constants.js';
import { encodeGenlPayload } from './messages.js';
import { NetlinkError, type NetlinkTransport } from './transport.js';

export interface GenlFamily {
  id: number;
  name: string;
  version: number;
  maxAttr: number;
}

export function encodeGetFamily(name: string): Buffer {
  const attrs = new AttrWriter(32).string(CTRL_ATTR.FAMILY_NAME, name).finish();
  return encodeGenlPayload(CTRL_CMD.GETFAMILY, CTRL_VERSION, attrs);
}

export function decodeFamily(payload: Buffer): GenlFamily {
  const t = new AttrIndex(payload, GENL_HDRLEN, payload.length, CTRL_ATTR.MCAST_GROUPS);
  return {
    id: t.u16(CTRL_ATTR.FAMILY_ID),
    name: t.string(CTRL_ATTR.FAMILY_NAME),
    version: t.u32(CTRL_ATTR.VERSION),
    maxAttr: t.u32(CTRL_ATTR.MAXATTR),
  };
}

/** Resolves a family; rejects with NetlinkError (ENOENT when the kernel has no such family). */
export async function resolveFamily(transport: NetlinkTransport, name: string): Promise<GenlFamily> {
  const [res] = await transport.request([{ type: GENL_ID_CTRL, payload: encodeGetFamily(name) }]);
  if (!res || res.errno !== 0) throw new NetlinkError(res?.errno ?? 5);
  const reply = res.replies[0];
  if (!reply) throw new NetlinkError(2, `no reply for family ${name}`);
  const fam = decodeFamily(reply.payload);
  if (fam.id === 0) throw new NetlinkError(2, `family ${name}: reply without an id`);
  return fam;
}
