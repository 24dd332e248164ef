/** How a retried call behaves; sleep is injectable so tests need not wait. */
export interface RetryOptions {
  attempts: number;
  baseMs: number;
  maxMs: number;
  retryable: (err: unknown) => boolean;
  /** Gives up once another sleep would pass this many milliseconds since the first try. */
  deadlineMs?: number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Calls fn until it succeeds, a non-retryable error occurs or attempts run out, sleeping with
 * full jitter (a random time up to base * 2^attempt) so that many jobs do not retry in step.
 */
export async function retry<T>(
  fn: (attempt: number) => Promise<T>,
  opts: RetryOptions
): Promise<T> {
  const sleep = opts.sleep ?? realSleep;
  const random = opts.random ?? Math.random;
  const now = opts.now ?? Date.now;
  const started = now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (attempt >= opts.attempts || !opts.retryable(err)) throw err;
      const delay = Math.floor(random() * Math.min(opts.maxMs, opts.baseMs * 2 ** attempt));
      if (opts.deadlineMs !== undefined && now() + delay - started > opts.deadlineMs) throw err;
      await sleep(delay);
    }
  }
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE'
]);

/** True for errors worth another try: the network, not the request, went wrong. */
export function isNetworkError(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown[] } | null;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  // Node reports a refused dual-stack connect as an AggregateError of per-address errors.
  if (Array.isArray(e.errors) && e.errors.some(isNetworkError)) return true;
  return typeof e.message === 'string' && /timeout|terminated unexpectedly/i.test(e.message);
}
