// Admission control for requests on ONE netlink socket of the `netlink` package.
// The package reassembles multipart replies with a single per-socket buffer: any other reply (even an ACK) that
// arrives while a dump is being received corrupts that dump ("Multipart message not terminated properly"), and
// the kernel answers a second concurrent dump with EBUSY. So a dump runs alone on its socket, while ordinary
// requests (one reply or ACK each, matched by sequence number) may be pipelined — up to maxInFlight, which
// keeps their ACKs within the socket's receive buffer. Admission is first come, first served.

interface Waiter {
  exclusive: boolean;
  start: () => void;
}

export class NetlinkGate {
  private inFlight = 0;
  private exclusiveRunning = false;
  private readonly queue: Waiter[] = [];

  constructor(private readonly maxInFlight = 256) {}

  /** Runs fn alongside other shared requests (never alongside a dump). */
  shared<T>(fn: () => Promise<T>): Promise<T> {
    return this.enter(false, fn);
  }

  /** Runs fn alone on the socket (for dumps). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.enter(true, fn);
  }

  /** Requests running or waiting (for tests and metrics). */
  get pending(): number {
    return this.inFlight + this.queue.length;
  }

  private enter<T>(exclusive: boolean, fn: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        exclusive,
        start: () => {
          let p: Promise<T>;
          try {
            p = fn();
          } catch (e) {
            p = Promise.reject(e);
          }
          // Free the slot before the caller resumes, so what it does next sees the gate as it is.
          const release = () => {
            this.inFlight--;
            if (exclusive) this.exclusiveRunning = false;
            this.pump();
          };
          p.then((v) => { release(); resolve(v); }, (e: unknown) => { release(); reject(e); });
        },
      });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      if (this.exclusiveRunning) return;
      if (head.exclusive ? this.inFlight > 0 : this.inFlight >= this.maxInFlight) return;
      this.queue.shift();
      this.inFlight++;
      if (head.exclusive) this.exclusiveRunning = true;
      head.start();
    }
  }
}
