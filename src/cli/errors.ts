// Errors the command line reports to the operator and exits on. A UsageError is a mistake in how kube-ipvs was
// started (a flag, a value, the config file, an --objects file): exit code 2, the messages on stderr, no stack.

export class UsageError extends Error {
  readonly exitCode = 2;
  readonly messages: readonly string[];

  constructor(messages: string | readonly string[]) {
    const list = typeof messages === 'string' ? [messages] : [...messages];
    super(list.join('\n'));
    this.name = 'UsageError';
    this.messages = list;
  }
}

export function isUsageError(err: unknown): err is UsageError {
  return err instanceof UsageError;
}
