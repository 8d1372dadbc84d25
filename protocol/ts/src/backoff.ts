// Reconnect timing: exponential backoff with jitter, so that thousands of
// clients dropped at once (a server restart) do not all come back in the
// same millisecond.

/** How a dropped connection is reopened. */
export interface ReconnectOptions {
  /** Delay before the first attempt, in ms. Default 250. */
  readonly initialDelayMs: number;
  /** Longest delay between attempts, in ms. Default 8000. */
  readonly maxDelayMs: number;
  /** Growth of the delay per failed attempt. Default 2. */
  readonly factor: number;
  /**
   * Share of each delay that is random, 0..=1: the delay is drawn from
   * [delay × (1 − jitter), delay]. Default 0.5.
   */
  readonly jitter: number;
  /** Attempts before giving up (`Infinity`: never). Default `Infinity`. */
  readonly maxAttempts: number;
}

/** The defaults described on {@link ReconnectOptions}. */
export const DEFAULT_RECONNECT: ReconnectOptions = {
  initialDelayMs: 250,
  maxDelayMs: 8000,
  factor: 2,
  jitter: 0.5,
  maxAttempts: Infinity,
};

/**
 * Delay before reconnect attempt `attempt` (1 for the first), in whole ms.
 * `random` returns a number in [0, 1), like `Math.random`.
 */
export function backoffDelay(attempt: number, options: ReconnectOptions, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const ceiling = Math.min(options.maxDelayMs, options.initialDelayMs * Math.pow(options.factor, exponent));
  const jitter = Math.min(1, Math.max(0, options.jitter));
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(ceiling * (1 - jitter * r)));
}
