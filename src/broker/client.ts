import { isNetworkError, retry } from '../util/retry.js';

/** What a broker answers to POST /v1/credentials. */
export interface BrokerLease {
  lease_id: string;
  username: string;
  password: string;
  url: string;
  host: string;
  port: number;
  database: string;
  expires_at: string;
}

/** A broker's refusal, with its status and error code. */
export class BrokerError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
  }
}

// A broker that is down or whose database is down may be back in a moment; a refusal will not.
const retryable = (err: unknown) =>
  isNetworkError(err) ||
  (err instanceof BrokerError && err.status >= 500) ||
  (err as Error)?.name === 'TimeoutError';

async function call(url: string, init: RequestInit, token: string): Promise<Response> {
  const response = await fetch(url, {
    ...init,
    headers: {
      ...init.headers,
      authorization: `Bearer ${token}`,
      'content-type': 'application/json'
    },
    signal: AbortSignal.timeout(30_000)
  });
  if (response.ok) return response;
  const body = (await response.json().catch(() => ({}))) as { error?: string; message?: string };
  throw new BrokerError(
    response.status,
    body.error ?? 'error',
    `the broker answered ${response.status} ${body.error ?? ''}: ${body.message ?? response.statusText}`
  );
}

/** Asks a broker for a user, with a fresh OIDC token for every attempt. */
export async function requestLease(
  brokerUrl: string,
  request: { profile: string; ttl: string },
  token: () => Promise<string>
): Promise<BrokerLease> {
  return retry(
    async () => {
      const response = await call(
        `${brokerUrl}/v1/credentials`,
        { method: 'POST', body: JSON.stringify(request) },
        await token()
      );
      return (await response.json()) as BrokerLease;
    },
    { attempts: 3, baseMs: 500, maxMs: 4000, deadlineMs: 60_000, retryable }
  );
}

/** Asks a broker to revoke a lease; a lease already gone is not an error. */
export async function revokeLease(
  brokerUrl: string,
  leaseId: string,
  token: () => Promise<string>
): Promise<void> {
  await retry(
    async () => {
      await call(
        `${brokerUrl}/v1/credentials/${encodeURIComponent(leaseId)}`,
        { method: 'DELETE' },
        await token()
      ).catch((err) => {
        if (err instanceof BrokerError && err.status === 404) return;
        throw err;
      });
    },
    { attempts: 3, baseMs: 500, maxMs: 4000, deadlineMs: 60_000, retryable }
  );
}
