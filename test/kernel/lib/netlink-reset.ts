// In-process pieces of resetNetns(): starting a process costs 0.1-0.5 s inside the user-mode Linux guest, and a
// reset runs before every test, so what can be done over netlink from this process is done here.
// Test-only code: deliberately tiny encoders, independent of the drivers under test.

import { endianness } from 'node:os';
import { createGenericNetlink, createNetlink, createRtNetlink, formatAttribute, genl } from 'netlink';

const NETLINK_NETFILTER = 12;

function u32(type: number, value: number): Uint8Array[] {
  const b = Buffer.alloc(4);
  if (endianness() === 'LE') b.writeUInt32LE(value);
  else b.writeUInt32BE(value);
  return formatAttribute({ type, data: b });
}

/** Deletes every IPVS virtual server and restores the kernel's default timeouts (tcp 900, tcpfin 120, udp 300). */
export async function ipvsFlushAndDefaultTimeouts(): Promise<void> {
  const IPVS_CMD_SET_CONFIG = 12;
  const IPVS_CMD_FLUSH = 17;
  const [TIMEOUT_TCP, TIMEOUT_TCP_FIN, TIMEOUT_UDP] = [4, 5, 6];
  const sock = createGenericNetlink();
  try {
    const [family] = await sock.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: 'IPVS' });
    if (!family?.familyId) throw new Error('IPVS generic netlink family not found');
    await sock.request(family.familyId, IPVS_CMD_FLUSH, 1, []);
    await sock.request(family.familyId, IPVS_CMD_SET_CONFIG, 1,
      [...u32(TIMEOUT_TCP, 900), ...u32(TIMEOUT_TCP_FIN, 120), ...u32(TIMEOUT_UDP, 300)]);
  } finally {
    sock.socket.close();
  }
}

/**
 * Destroys every ipset (IPSET_CMD_DESTROY without a name). Rejects when a set is still referenced (by an
 * iptables rule or a list:set), which the caller handles.
 */
export async function ipsetDestroyAll(): Promise<void> {
  const NFNL_SUBSYS_IPSET = 6;
  const IPSET_CMD_DESTROY = 3;
  const IPSET_ATTR_PROTOCOL = 1;
  const IPSET_PROTOCOL = 7;
  const sock = createNetlink(NETLINK_NETFILTER);
  try {
    const nfgenmsg = Uint8Array.from([2 /* AF_INET */, 0 /* NFNETLINK_V0 */, 0, 0]);
    const protocol = formatAttribute({ type: IPSET_ATTR_PROTOCOL, data: Buffer.from([IPSET_PROTOCOL]) });
    await sock.request((NFNL_SUBSYS_IPSET << 8) | IPSET_CMD_DESTROY, [nfgenmsg, ...protocol]);
  } finally {
    sock.close();
  }
}

/** Deletes every link except lo; returns the names it could not delete (veth peers vanish with their pair). */
export async function deleteLinksExceptLo(): Promise<string[]> {
  const rtnl = createRtNetlink();
  const failed: string[] = [];
  try {
    const all = await rtnl.getLinks();
    for (const l of all) {
      if (l.attrs.ifname === 'lo' || l.data.index === undefined) continue;
      try {
        await rtnl.delLink({ index: l.data.index });
      } catch (e) {
        if (!/ENODEV/.test(String((e as Error).message))) failed.push(String(l.attrs.ifname));
      }
    }
    return failed;
  } finally {
    rtnl.socket.close();
  }
}

/**
 * A fingerprint of what lives on lo: its up flag, its addresses and every route of the main and local tables.
 * Equal fingerprints before and after a test mean lo needs no repair.
 */
export async function loFingerprint(): Promise<string> {
  const rtnl = createRtNetlink();
  try {
    const links = await rtnl.getLinks();
    const lo = links.find((l) => l.attrs.ifname === 'lo');
    const addrs = (await rtnl.getAddresses())
      .map((a) => `${a.data.index} ${a.data.family} ${(a.attrs.local ?? a.attrs.address)?.toString('hex')}/${a.data.prefixlen}`)
      .sort();
    const routes = (await rtnl.getRoutes())
      .map((r) => `${r.data.family} ${r.attrs.table ?? r.data.table} ${r.data.type} ${r.attrs.dst?.toString('hex') ?? '-'}/${r.data.dstLen} ${r.attrs.oif ?? '-'}`)
      .sort();
    return JSON.stringify({ up: lo?.data.flags?.up === true, links: links.length, addrs, routes });
  } finally {
    rtnl.socket.close();
  }
}

/** Processes whose network namespace is the named one (moved to the sandbox's pods, re-exported here). */
export { pidsInNetns } from '../../../src/sandbox/pods.js';
