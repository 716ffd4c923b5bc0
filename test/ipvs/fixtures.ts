// Loads the byte fixtures captured from a real kernel (test/fixtures/ipvs/*.json, see its README) and splits
// their frames into netlink messages.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMessages, parseGenlPayload, type NetlinkMessage } from '../../src/kernel/netlink/messages.js';

export interface Frame {
  dir: 'to-kernel' | 'to-user';
  hex: string;
}

export interface Fixture {
  command: string;
  exitCode: number;
  stdout: string;
  stderr: string;
  kernel: string;
  frames: Frame[];
}

/** A message with the frame direction it travelled in and, for generic netlink data, its genl command. */
export interface FixtureMessage extends NetlinkMessage {
  dir: Frame['dir'];
  /** Index of the frame (datagram) it came in. */
  frame: number;
  cmd?: number;
}

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

export const FIXTURE_DIR = join(repoRoot(), 'test', 'fixtures', 'ipvs');

export function loadFixture(name: string): Fixture {
  return JSON.parse(readFileSync(join(FIXTURE_DIR, `${name}.json`), 'utf8')) as Fixture;
}

/** nlctrl's family id: every other id >= 0x10 in a fixture is the IPVS family the kernel assigned. */
const GENL_ID_CTRL = 0x10;

export function messagesOf(fx: Fixture): FixtureMessage[] {
  const out: FixtureMessage[] = [];
  fx.frames.forEach((f, frame) => {
    for (const m of parseMessages(Buffer.from(f.hex, 'hex'))) {
      const fm: FixtureMessage = { ...m, dir: f.dir, frame };
      if (m.type >= 0x10) fm.cmd = parseGenlPayload(m.payload).cmd;
      out.push(fm);
    }
  });
  return out;
}

/** Messages of the IPVS family (not nlctrl, not ACKs), optionally one direction / one command. */
export function ipvsMessages(fx: Fixture, dir?: Frame['dir'], cmd?: number): FixtureMessage[] {
  return messagesOf(fx).filter(
    (m) => m.type > GENL_ID_CTRL && (dir === undefined || m.dir === dir) && (cmd === undefined || m.cmd === cmd),
  );
}

/** The IPVS family id the kernel assigned in that capture. */
export function ipvsFamilyId(fx: Fixture): number {
  const m = messagesOf(fx).find((x) => x.type > GENL_ID_CTRL);
  if (!m) throw new Error(`no IPVS message in fixture ${fx.command}`);
  return m.type;
}
