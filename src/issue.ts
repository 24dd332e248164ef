import { getIdToken } from './oidc/token.js';
import type { Platform, SummaryFacts } from './platform/types.js';
import { loadProvider } from './providers/load.js';
import type { CredentialProvider, IssuedCredential } from './providers/types.js';
import { credentialFor } from './providers/credential.js';
import { newUserRequest } from './providers/request.js';
import {
  isBrokerMode,
  type AwsSettings,
  type BrokerSettings,
  type DbSettings,
  type Settings
} from './settings.js';
import type { LeaseState } from './state.js';
import { errorMessage } from './util/errors.js';
import { freshTokens, maskAll } from './platform/secrets.js';
import { formatDuration } from './util/duration.js';
import { percentDecoded } from './util/text.js';

/** What a job receives, in the order it must be handed over. */
interface Delivery {
  state: Omit<LeaseState, 'v' | 'exported'>;
  outputs: Record<string, string>;
  /** Variable names without the env-prefix. */
  env: Record<string, string>;
  message: string;
  summary: SummaryFacts;
}

/**
 * Hands a credential to the job, after its secrets were masked: state first (so the post step
 * can clean up whatever follows), then outputs, variables, the log line and the summary.
 */
async function deliver(settings: Settings, platform: Platform, d: Delivery): Promise<void> {
  const names = Object.keys(d.env).map((name) => settings.envPrefix + name);
  await platform.saveState({ v: 1, ...d.state, exported: settings.exportEnv ? names : [] });
  for (const [name, value] of Object.entries(d.outputs)) platform.setOutput(name, value);
  if (settings.exportEnv) {
    for (const [name, value] of Object.entries(d.env))
      platform.exportVariable(settings.envPrefix + name, value);
  }
  await platform.flush();
  platform.info(d.message);
  await platform.summary(d.summary);
}

/** Issues this job's credential: a database user (returned, for callers such as the demo), or an AWS session. */
export async function issue(
  settings: Settings,
  platform: Platform,
  providerFor: (s: DbSettings) => Promise<CredentialProvider> = loadProvider
): Promise<IssuedCredential | undefined> {
  if (settings.provider === 'aws') return issueAwsSession(settings, platform);
  if (isBrokerMode(settings)) return issueViaBroker(settings, platform);
  return issueDatabaseUser(settings, platform, providerFor);
}

/**
 * Learns who the run is, creates the user, masks, saves state, exports. Anything that fails
 * after the user exists revokes it again.
 */
async function issueDatabaseUser(
  settings: DbSettings,
  platform: Platform,
  providerFor: (s: DbSettings) => Promise<CredentialProvider>
): Promise<IssuedCredential> {
  // GitHub masks secrets.* itself, but an admin URL assembled in the workflow may not be.
  const adminPassword = settings.adminUrl.url.password;
  if (adminPassword) maskAll(platform, percentDecoded(adminPassword));
  // Direct mode needs no token; when the job has one, its claims make a better audit marker.
  // The provider's driver loads while the token request is on the wire.
  const [token, provider] = await Promise.all([
    getIdToken(platform.tokens, settings.audience, false),
    providerFor(settings)
  ]);
  if (token) maskAll(platform, token.token);
  const identity = platform.identity(token?.claims);

  const request = newUserRequest({
    prefix: settings.usernamePrefix,
    run: identity,
    ttlSeconds: settings.ttlSeconds,
    roles: settings.roles,
    database: settings.database
  });
  const { username, password, expiresAt } = request;
  maskAll(platform, password); // before the password exists anywhere else
  const credential = await provider.issue(request);

  try {
    maskAll(platform, credential.url);
    for (const note of credential.notes ?? []) platform.warning(note);
    const target = `${credential.host}:${credential.port}/${credential.database}`;
    await deliver(settings, platform, {
      state: {
        provider: settings.provider,
        leaseId: username,
        username,
        expiresAt: expiresAt.toISOString(),
        target
      },
      outputs: {
        username,
        password,
        url: credential.url,
        'expires-at': expiresAt.toISOString(),
        'lease-id': username
      },
      env: credential.env,
      message:
        `Created ${settings.provider} user ${username} on ${target}` +
        ` (roles: ${settings.roles.join(', ') || 'none'}), valid for ${formatDuration(settings.ttlSeconds)}` +
        ` until ${expiresAt.toISOString()}`,
      summary: {
        who: username,
        grants: settings.roles,
        where: `${credential.database} on ${credential.host}:${credential.port}`,
        expiresAt: expiresAt.toISOString()
      }
    });
    return credential;
  } catch (err) {
    // Nobody will learn of this user, so it must not live on until its TTL.
    await provider.revoke(username).catch((revokeErr) => {
      platform.warning(`Could not remove ${username} after a failure: ${errorMessage(revokeErr)}`);
    });
    throw err;
  }
}

/**
 * Sends the job's OIDC token to a broker, which checks it against the profile and creates the
 * user; the job never holds an admin secret. A failure after the broker answered revokes again.
 */
async function issueViaBroker(
  settings: BrokerSettings,
  platform: Platform
): Promise<IssuedCredential> {
  const { requestLease, revokeLease } = await import('./broker/client.js');
  const tokens = freshTokens(platform, settings.audience);
  const lease = await requestLease(
    settings.brokerUrl,
    { profile: settings.profile, ttl: formatDuration(settings.ttlSeconds) },
    tokens
  );
  maskAll(platform, lease.password);
  maskAll(platform, lease.url);
  const credential = credentialFor(settings.provider, {
    host: lease.host,
    port: lease.port,
    username: lease.username,
    password: lease.password,
    database: lease.database,
    expiresAt: new Date(lease.expires_at),
    sslmode: new URL(lease.url).searchParams.get('sslmode')
  });
  const where = `${settings.brokerUrl} (profile ${settings.profile})`;
  try {
    await deliver(settings, platform, {
      state: {
        provider: settings.provider,
        leaseId: lease.lease_id,
        username: lease.username,
        expiresAt: lease.expires_at,
        target: where,
        broker: settings.brokerUrl
      },
      outputs: {
        username: lease.username,
        password: lease.password,
        url: credential.url,
        'expires-at': lease.expires_at,
        'lease-id': lease.lease_id
      },
      env: credential.env,
      message: `The broker created ${settings.provider} user ${lease.username} on ${lease.host}:${lease.port}/${lease.database} for profile ${settings.profile}, valid until ${lease.expires_at}`,
      summary: {
        who: lease.username,
        grants: [`profile ${settings.profile}`],
        where: `${lease.database} on ${lease.host}:${lease.port}`,
        expiresAt: lease.expires_at
      }
    });
    return credential;
  } catch (err) {
    await revokeLease(settings.brokerUrl, lease.lease_id, tokens).catch((revokeErr) => {
      platform.warning(
        `Could not revoke ${lease.username} after a failure: ${errorMessage(revokeErr)}`
      );
    });
    throw err;
  }
}

/** Exchanges the job's OIDC token for an STS session, masks it and exports it. */
async function issueAwsSession(settings: AwsSettings, platform: Platform): Promise<undefined> {
  // The account is in the role ARN already: masked before any error could print that ARN.
  if (settings.maskAccountId) maskAll(platform, settings.roleArn.split(':')[4]!);
  const { assumeRole, makeSessionName, STS_MIN_SECONDS } = await import('./providers/aws-sts.js');
  // The first token proves the job may have one (else: which permission to add) and names the run.
  const first = await getIdToken(platform.tokens, settings.audience, true);
  maskAll(platform, first!.token);
  const identity = platform.identity(first!.claims);
  const sessionName = settings.sessionName ?? makeSessionName(settings.usernamePrefix, identity);
  if (settings.ttlSeconds < STS_MIN_SECONDS) {
    platform.notice(
      `ttl ${formatDuration(settings.ttlSeconds)} is shorter than STS allows; the session lasts ${formatDuration(STS_MIN_SECONDS)}`
    );
  }
  const session = await assumeRole(
    settings,
    sessionName,
    freshTokens(platform, settings.audience, first!.token)
  );
  for (const secret of [session.accessKeyId, session.secretAccessKey, session.sessionToken])
    maskAll(platform, secret);
  if (settings.maskAccountId) maskAll(platform, session.accountId); // the same, unless STS differs

  const expiresAt = session.expiresAt.toISOString();
  const role = settings.maskAccountId
    ? settings.roleArn.replace(session.accountId, '***')
    : settings.roleArn;
  await deliver(settings, platform, {
    state: {
      provider: 'aws',
      leaseId: sessionName,
      username: sessionName,
      expiresAt,
      target: role
    },
    outputs: {
      'aws-access-key-id': session.accessKeyId,
      'aws-secret-access-key': session.secretAccessKey,
      'aws-session-token': session.sessionToken,
      'aws-account-id': session.accountId,
      'expires-at': expiresAt,
      'lease-id': sessionName
    },
    env: {
      AWS_ACCESS_KEY_ID: session.accessKeyId,
      AWS_SECRET_ACCESS_KEY: session.secretAccessKey,
      AWS_SESSION_TOKEN: session.sessionToken,
      AWS_REGION: settings.region,
      AWS_DEFAULT_REGION: settings.region
    },
    message: `Assumed ${role} as session ${sessionName} in ${settings.region}, valid until ${expiresAt}`,
    summary: { who: sessionName, grants: [role], where: `AWS ${settings.region}`, expiresAt }
  });
  return undefined;
}
