import type { Platform } from './platform/types.js';
import { loadProvider } from './providers/load.js';
import type { CredentialProvider } from './providers/types.js';
import { readBoolean, readTarget, type Target } from './settings.js';
import { errorMessage } from './util/errors.js';
import { freshTokens } from './platform/secrets.js';
import type { LeaseState } from './state.js';

// Who ends a credential that the post step could not revoke.
const EXPIRY_BY: Record<LeaseState['provider'], string> = {
  postgres: 'when PostgreSQL refuses it (VALID UNTIL); sweep drops the role later',
  mysql:
    "when the server's expiry event drops it (if the event scheduler is on), or at the next sweep",
  aws: 'when AWS ends the session'
};

type ProviderFor = (target: Target) => Promise<CredentialProvider>;

/** Revokes the lease in a saved state; the admin URL is read again, as state holds no secret. */
export async function revoke(
  state: LeaseState,
  platform: Platform,
  providerFor: ProviderFor = loadProvider
): Promise<'revoked' | 'absent' | 'expires'> {
  if (state.provider === 'aws') return endAwsSession(state, platform);
  if (state.broker) return revokeViaBroker(state, state.broker, platform);
  const provider = await providerFor(readTarget(platform.input, state.provider));
  const result = await provider.revoke(state.username);
  platform.info(
    result === 'revoked'
      ? `Revoked ${state.provider} user ${state.username} on ${state.target}`
      : `User ${state.username} on ${state.target} was already gone`
  );
  await platform.summaryNote(`User ${state.username} revoked at ${new Date().toISOString()}.`);
  return result;
}

/** Asks the broker to revoke the lease, with a fresh token of this same run. */
async function revokeViaBroker(
  state: LeaseState,
  broker: string,
  platform: Platform
): Promise<'revoked'> {
  const { revokeLease } = await import('./broker/client.js');
  const audience = platform.input('audience') || broker;
  await revokeLease(broker, state.leaseId, freshTokens(platform, audience));
  platform.info(`Revoked ${state.provider} user ${state.username} through ${state.target}`);
  await platform.summaryNote(`User ${state.username} revoked at ${new Date().toISOString()}.`);
  return 'revoked';
}

/**
 * STS cannot revoke one session: what is left is to take its variables from later (post) steps
 * and to say when it ends.
 */
async function endAwsSession(state: LeaseState, platform: Platform): Promise<'expires'> {
  for (const name of state.exported) platform.exportVariable(name, '');
  const cleared = state.exported.length
    ? `; cleared ${state.exported.join(', ')} for later steps`
    : '';
  platform.info(
    `AWS session ${state.username} cannot be revoked on its own and expires at ${state.expiresAt}${cleared}`
  );
  await platform.summaryNote(
    `AWS session ${state.username} expires at ${state.expiresAt} (STS sessions cannot be revoked one by one).`
  );
  return 'expires';
}

/** Lists (dry run) or revokes the expired users that this tool made. */
export async function sweep(
  target: Target,
  dryRun: boolean,
  log: (line: string) => void,
  providerFor: ProviderFor = loadProvider
): Promise<string[]> {
  const provider = await providerFor(target);
  const users = await provider.sweep({ dryRun });
  const verb = dryRun ? 'would revoke' : 'revoked';
  for (const user of users) log(`${verb} ${user}`);
  log(`${users.length} expired user(s) ${verb} on ${target.adminUrl.url.host}`);
  return users;
}

/**
 * The post step: revoke what main created. It never fails the job; when revoking fails it warns
 * and says when the credential expires on its own.
 */
export async function revokeAtJobEnd(
  platform: Platform,
  providerFor: ProviderFor = loadProvider
): Promise<void> {
  let state: LeaseState | undefined;
  try {
    state = await platform.loadState();
    if (!state) {
      platform.info('Nothing to revoke: the main step created no credential.');
      return;
    }
    if (!readBoolean('revoke', platform.input('revoke'), true)) {
      platform.info(
        `revoke is false: ${state.username} stays until it expires at ${state.expiresAt}.`
      );
      return;
    }
    await revoke(state, platform, providerFor);
  } catch (err) {
    const expiry = state
      ? ` It still expires at ${state.expiresAt}, ${EXPIRY_BY[state.provider]}.`
      : '';
    platform.warning(`Could not revoke the credential: ${errorMessage(err)}.${expiry}`);
  }
}
