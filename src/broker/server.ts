import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse
} from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { JWTPayload } from 'jose';
import { cliIdentity, runKey, type RunIdentity } from '../oidc/identity.js';
import { TokenError, tokenVerifier } from '../oidc/verify.js';
import { loadProvider } from '../providers/load.js';
import { NotOwnerError, type CredentialProvider } from '../providers/types.js';
import { newUserRequest } from '../providers/request.js';
import { formatDuration, parseDuration } from '../util/duration.js';
import { errorMessage } from '../util/errors.js';
import { isNetworkError } from '../util/retry.js';
import { auditLog } from './audit.js';
import type { BrokerConfig, BrokerProfile } from './config.js';
import { claimMismatch } from './policy.js';
import { HttpError, limiter, readJson, send } from './http.js';
import { percentDecoded } from '../util/text.js';

/** A running broker. */
export interface Broker {
  url: string;
  /** Stops taking requests, lets those in flight finish, stops the sweeper. */
  close(): Promise<void>;
}

/**
 * The run a token speaks for: GitHub's repository and run (and attempt), or GitLab's project
 * and job. Leases are bound to it; a token that names no run gets nothing.
 */
export function runOf(claims: JWTPayload): RunIdentity | undefined {
  if (claims.run_id === undefined && claims.job_id === undefined) return undefined;
  const identity = cliIdentity({}, claims as Record<string, unknown>);
  return identity.repository_id && identity.run_id ? identity : undefined;
}

function sameRun(a: RunIdentity, b: RunIdentity): boolean {
  return a.platform === b.platform && runKey(a) === runKey(b);
}

/** Starts the broker of a validated config. */
export async function startBroker(config: BrokerConfig): Promise<Broker> {
  const verify = tokenVerifier(config.issuers);
  const audit = auditLog(config.auditLog);
  const providers = new Map<string, Promise<CredentialProvider>>();
  const limits = new Map<string, ReturnType<typeof limiter>>();
  for (const target of config.targets.values()) {
    providers.set(target.name, loadProvider(target));
    limits.set(target.name, limiter(config.limits.maxConcurrentCreations));
  }

  async function authenticate(req: IncomingMessage): Promise<JWTPayload> {
    const token = /^Bearer (\S+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token)
      throw new HttpError(
        401,
        'invalid_token',
        'an Authorization: Bearer <OIDC token> header is required'
      );
    try {
      return await verify(token);
    } catch (err) {
      if (err instanceof TokenError) {
        throw new HttpError(401, 'invalid_token', err.message, {
          event: 'denied',
          reason: err.message
        });
      }
      throw new HttpError(503, 'issuer_unreachable', 'the token issuer could not be reached', {
        event: 'failed',
        reason: errorMessage(err)
      });
    }
  }

  async function create(req: IncomingMessage, res: ServerResponse) {
    const body = await readJson(req, config.limits.maxBodyBytes);
    const claims = await authenticate(req);
    const name = typeof body.profile === 'string' ? body.profile : '';
    const profile = config.profiles.get(name);
    const denied = (status: number, code: string, reason: string) =>
      new HttpError(status, code, reason, { event: 'denied', reason, profile: name, claims });
    if (!profile) throw denied(404, 'unknown_profile', `no profile "${name}"`);
    const run = runOf(claims);
    if (!run)
      throw denied(403, 'no_run', 'the token names no CI run (GitHub run_id or GitLab job_id)');
    const mismatch = claimMismatch(profile.boundClaims, claims);
    if (mismatch) throw denied(403, 'policy_denied', `profile ${profile.name}: ${mismatch}`);
    const ttl = requestedTtl(body.ttl, profile);

    const target = config.targets.get(profile.target)!;
    const request = newUserRequest({
      prefix: profile.usernamePrefix,
      run,
      ttlSeconds: ttl,
      roles: profile.roles,
      database: profile.database ?? percentDecoded(target.adminUrl.url.pathname.slice(1))
    });
    const { username, password, expiresAt } = request;
    let credential;
    try {
      credential = await limits.get(target.name)!(async () =>
        (await providers.get(target.name)!).issue(request)
      );
    } catch (err) {
      // A server's error may quote the statement, and so the new password; a long-running broker
      // does not register every password it makes, so it scrubs this one here.
      const reason = errorMessage(err).split(password).join('***');
      const down = isNetworkError(err) || /ECONNREFUSED|timeout|terminated/i.test(reason);
      throw new HttpError(
        down ? 503 : 500,
        down ? 'target_down' : 'issue_failed',
        `could not create a user on ${target.name}`,
        {
          event: 'failed',
          reason,
          profile: profile.name,
          target: target.name,
          claims
        }
      );
    }
    const leaseId = `${target.name}:${username}`;
    audit({
      event: 'issued',
      profile: profile.name,
      target: target.name,
      lease_id: leaseId,
      claims,
      reason: `ttl ${formatDuration(ttl)}`
    });
    send(res, 201, {
      lease_id: leaseId,
      username,
      password,
      url: credential.url,
      host: credential.host,
      port: credential.port,
      database: credential.database,
      expires_at: expiresAt.toISOString()
    });
  }

  async function remove(req: IncomingMessage, res: ServerResponse, leaseId: string) {
    const claims = await authenticate(req);
    const [targetName = '', username = ''] = leaseId.split(':');
    const target = config.targets.get(targetName);
    if (!target || !/^[a-z][a-z0-9_]{0,62}$/.test(username)) {
      throw new HttpError(404, 'unknown_lease', 'no such lease', {
        event: 'denied',
        reason: 'unknown lease',
        lease_id: leaseId,
        claims
      });
    }
    const run = runOf(claims);
    const denied = new HttpError(
      403,
      'not_your_lease',
      'only a token of the run that made a lease may revoke it',
      {
        event: 'denied',
        reason: 'token of another run',
        lease_id: leaseId,
        claims
      }
    );
    if (!run) throw denied;
    const provider = await providers.get(target.name)!;
    // The marker names the run that owns the user; the provider checks it under its revoke lock.
    const result = await provider
      .revoke(username, (marker) => sameRun(marker.run, run))
      .catch((err) => {
        if (err instanceof NotOwnerError) throw denied;
        throw new HttpError(503, 'target_down', `could not revoke on ${target.name}`, {
          event: 'failed',
          reason: errorMessage(err),
          lease_id: leaseId
        });
      });
    if (result === 'revoked')
      audit({ event: 'revoked', target: target.name, lease_id: leaseId, claims });
    res.writeHead(204).end(); // revoking twice is not an error
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const lease = /^\/v1\/credentials\/([^/]+)$/.exec(path);
    let work: Promise<void>;
    if (req.method === 'GET' && path === '/healthz')
      work = Promise.resolve(send(res, 200, { status: 'ok' }));
    else if (req.method === 'POST' && path === '/v1/credentials') work = create(req, res);
    else if (req.method === 'DELETE' && lease) work = remove(req, res, percentDecoded(lease[1]!));
    else work = Promise.reject(new HttpError(404, 'not_found', 'no such route'));
    work.catch((err: unknown) => {
      const failure =
        err instanceof HttpError
          ? err
          : new HttpError(500, 'internal', 'internal error', {
              event: 'failed',
              reason: errorMessage(err)
            });
      if (failure.audit) audit(failure.audit);
      if (!res.headersSent)
        send(res, failure.status, { error: failure.code, message: failure.message });
    });
  };

  const server: Server = config.tls
    ? createHttpsServer({ cert: config.tls.cert, key: config.tls.key }, handler)
    : createHttpServer(handler);
  server.requestTimeout = config.limits.requestTimeoutMs;
  server.headersTimeout = Math.min(config.limits.requestTimeoutMs, 10_000);

  const sweeper = setInterval(() => {
    for (const [name, provider] of providers) {
      provider
        .then((p) => p.sweep({ dryRun: false }))
        .then((users) => users.length && audit({ event: 'swept', target: name, users }))
        .catch((err) =>
          audit({ event: 'failed', target: name, reason: `sweep: ${errorMessage(err)}` })
        );
    }
  }, config.sweepIntervalMs);
  sweeper.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, resolve);
  });
  const { port } = server.address() as { port: number };
  const host = config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host;
  return {
    url: `${config.tls ? 'https' : 'http'}://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        clearInterval(sweeper);
        // A connection that finishes its last request goes idle; end it then, not at keep-alive's
        // timeout, so that stopping takes as long as the slowest request in flight.
        const reaper = setInterval(() => server.closeIdleConnections(), 50);
        server.close(() => {
          clearInterval(reaper);
          resolve();
        });
        server.closeIdleConnections();
      })
  };
}

function requestedTtl(value: unknown, profile: BrokerProfile): number {
  if (value === undefined || value === null || value === '') return profile.defaultTtlSeconds;
  if (typeof value !== 'string')
    throw new HttpError(400, 'bad_request', 'ttl must be a string such as "15m"');
  try {
    // Asking for more than the profile allows gets what it allows.
    return Math.min(parseDuration('ttl', value, 12 * 3600), profile.maxTtlSeconds);
  } catch (err) {
    throw new HttpError(400, 'bad_request', (err as Error).message);
  }
}
