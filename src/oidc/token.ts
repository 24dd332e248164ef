import { decodeJwt } from 'jose';
import { InputError } from '../util/errors.js';
import { isNetworkError, retry, type RetryOptions } from '../util/retry.js';

/** Where a job's OIDC token comes from: the GitHub runner, a GitLab variable or a test. */
export interface TokenSource {
  /** False when this job cannot have a token (GitHub: no `id-token: write`). */
  available(): boolean;
  /** Asks for a fresh token; each call is a new request. */
  request(audience: string): Promise<string>;
  /** What to tell a user whose job has no token. */
  missingHint: string;
}

// @actions/core flattens a network failure into text ("Error Code : undefined ... ECONNREFUSED").
const FLATTENED_NETWORK_ERROR =
  /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|EPIPE)\b/;

/** An error a token request may succeed after: network trouble, throttling or a server error. */
export function isTransientTokenError(err: unknown): boolean {
  if (isNetworkError(err)) return true;
  const message = err instanceof Error ? err.message : String(err);
  if (FLATTENED_NETWORK_ERROR.test(message)) return true;
  const status =
    /Error Code\s*:\s*(\d{3})/.exec(message)?.[1] ??
    (err as { statusCode?: number } | null)?.statusCode;
  const code = Number(status);
  return code === 429 || code >= 500;
}

/**
 * Gets a token for the audience, retrying transient failures with full jitter and a fresh request
 * each time. Returns undefined when no token can be had and none is required.
 */
export async function getIdToken(
  source: TokenSource,
  audience: string,
  required: boolean,
  retryOptions: Partial<RetryOptions> = {}
): Promise<{ token: string; claims: Record<string, unknown> } | undefined> {
  if (!source.available()) {
    if (required) throw new InputError(`This job has no OIDC token. ${source.missingHint}`);
    return undefined;
  }
  const token = await retry(() => source.request(audience), {
    attempts: 4,
    baseMs: 500,
    maxMs: 4000,
    retryable: isTransientTokenError,
    ...retryOptions
  });
  return { token, claims: decodeJwt(token) };
}
