import { randomBytes } from 'node:crypto';
import { AssumeRoleWithWebIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { decodeJwt } from 'jose';
import type { RunIdentity } from '../oidc/identity.js';
import type { AwsSettings } from '../settings.js';
import { errorMessage } from '../util/errors.js';
import { formatDuration } from '../util/duration.js';
import { isNetworkError, retry, type RetryOptions } from '../util/retry.js';

/** What STS accepts for DurationSeconds. */
export const STS_MIN_SECONDS = 900;
export const STS_MAX_SECONDS = 43200;

/** An STS session, as exported to the job. */
export interface AwsSession {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiresAt: Date;
  assumedRoleArn: string;
  accountId: string;
}

const NOT_SESSION_CHARS = /[^\w+=,.@-]/g;

/** `<prefix>-<run_id>-<attempt>-<random>`: only characters STS accepts, at most 64. */
export function makeSessionName(prefix: string, identity: RunIdentity): string {
  const clean = (text: string | undefined, fallback: string) =>
    (text ?? fallback).replace(NOT_SESSION_CHARS, '_');
  // The attempt is cut too, so that a long one cannot push the name past 64.
  const tail = `-${clean(identity.run_attempt, '1').slice(0, 20)}-${randomBytes(4).toString('hex')}`;
  const head = `${prefix}-${clean(identity.run_id, 'local')}`;
  return head.slice(0, 64 - tail.length) + tail;
}

const RETRYABLE = new Set([
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  // STS could not reach the token's issuer: worth another try. The SDK names the error by its
  // modeled shape (IDPCommunicationErrorException), not by the wire code.
  'IDPCommunicationError',
  'IDPCommunicationErrorException',
  'ServiceUnavailable',
  'InternalFailure',
  'TimeoutError',
  'RequestTimeout'
]);

/** Throttling, 5xx and network failures; never access denied or a bad request. */
export function isRetryableStsError(err: unknown): boolean {
  if (isNetworkError(err)) return true;
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } } | null;
  if (e?.name && RETRYABLE.has(e.name)) return true;
  const status = e?.$metadata?.httpStatusCode ?? 0;
  return status === 429 || status >= 500;
}

/** Turns an STS refusal into a message that says what to check. */
export function explainStsError(err: unknown, settings: AwsSettings, subject?: string): Error {
  const name = (err as { name?: string })?.name ?? '';
  const reason = errorMessage(err);
  if (name === 'AccessDenied' || name === 'AccessDeniedException') {
    return new Error(
      `STS refused to let this job assume ${settings.roleArn}: ${reason}. Usual causes: the role's trust ` +
        `policy does not allow this token's subject${subject ? ` "${subject}"` : ''} (its ...:sub condition), ` +
        `its ...:aud condition is not "${settings.audience}", or the account has no IAM OIDC identity provider ` +
        "for the token's issuer. A job without `permissions: id-token: write` has no token at all."
    );
  }
  if (/MaxSessionDuration/i.test(reason)) {
    return new Error(
      `ttl ${formatDuration(Math.max(settings.ttlSeconds, STS_MIN_SECONDS))} is longer than the maximum session duration ` +
        `of ${settings.roleArn}; lower ttl or raise the role's MaxSessionDuration (STS: ${reason})`
    );
  }
  if (/^(InvalidIdentityToken|IDPRejectedClaim|ExpiredToken)/.test(name)) {
    return new Error(
      `STS did not accept the job's OIDC token (${reason}); check the account's IAM OIDC identity provider ` +
        `for this issuer and that its audience list holds "${settings.audience}"`
    );
  }
  return new Error(`Could not assume ${settings.roleArn}: ${reason}`);
}

/**
 * AssumeRoleWithWebIdentity, retried on throttling, 5xx and network errors with full jitter and a
 * fresh token for each attempt, within a bounded total time.
 */
export async function assumeRole(
  settings: AwsSettings,
  sessionName: string,
  token: () => Promise<string>,
  retryOptions: Partial<RetryOptions> = {},
  client = new STSClient({
    region: settings.region,
    ...(settings.stsEndpoint ? { endpoint: settings.stsEndpoint } : {}),
    maxAttempts: 1 // the retries are ours, so that each one carries a fresh token
  })
): Promise<AwsSession> {
  let subject: string | undefined;
  const response = await retry(
    async () => {
      const webIdentityToken = await token();
      subject = readSubject(webIdentityToken);
      return client.send(
        new AssumeRoleWithWebIdentityCommand({
          RoleArn: settings.roleArn,
          RoleSessionName: sessionName,
          WebIdentityToken: webIdentityToken,
          DurationSeconds: Math.min(
            Math.max(settings.ttlSeconds, STS_MIN_SECONDS),
            STS_MAX_SECONDS
          ),
          ...(settings.sessionPolicy ? { Policy: settings.sessionPolicy } : {}),
          ...(settings.sessionPolicyArns.length
            ? { PolicyArns: settings.sessionPolicyArns.map((arn) => ({ arn })) }
            : {})
        })
      );
    },
    {
      attempts: 5,
      baseMs: 500,
      maxMs: 5000,
      deadlineMs: 30_000,
      retryable: isRetryableStsError,
      ...retryOptions
    }
  ).catch((err: unknown) => {
    throw explainStsError(err, settings, subject);
  });
  const { Credentials: c, AssumedRoleUser: user } = response;
  if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration || !user?.Arn) {
    throw new Error(`STS answered without credentials for ${settings.roleArn}`);
  }
  return {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
    expiresAt: c.Expiration,
    assumedRoleArn: user.Arn,
    // arn:aws:sts::<account>:assumed-role/<role>/<session>: no extra call to learn the account.
    accountId: user.Arn.split(':')[4] ?? ''
  };
}

// The subject names the run in an access-denied message; STS verifies the token, not us.
function readSubject(token: string): string | undefined {
  try {
    const { sub } = decodeJwt(token);
    return sub;
  } catch {
    return undefined;
  }
}
