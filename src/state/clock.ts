// The only time source state/ needs: "now" in epoch milliseconds (runtime's Clock satisfies it).
export interface NowSource {
  now(): number;
}

export const systemNow: NowSource = { now: () => Date.now() };
