import { getIdToken } from './oidc/token.js';
import { runKey } from './oidc/identity.js';
import type { Platform } from './platform/types.js';
import type { CredentialProvider, IssuedCredential } from './providers/types.js';
import type { Settings } from './settings.js';
import type { LeaseState } from './state.js';
import { errorMessage, registerSecret } from './util/errors.js';
import { formatDuration } from './util/duration.js';
import { makePassword, makeUsername } from './util/names.js';
import { VERSION } from './version.js';
import { loadProvider } from './providers/load.js';

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** Registers a secret in every form it can appear in: raw, URL-encoded, and each of its lines. */
export function maskAll(platform: Platform, secret: string): void {
  const forms = new Set([secret, encodeURIComponent(secret), ...secret.split(/\r?\n/)]);
  for (const form of forms) {
    if (!form.trim()) continue;
    platform.mask(form);
    registerSecret(form);
  }
}

/**
 * The whole of issuing: learn who the run is, create the user, mask, save state, export.
 * Anything that fails after the user exists revokes it again.
 */
export async function issue(
  settings: Settings,
  platform: Platform,
  providerFor: (s: Settings) => Promise<CredentialProvider> = loadProvider
): Promise<IssuedCredential> {
  // GitHub masks secrets.* itself, but an admin URL assembled in the workflow may not be.
  const adminPassword = settings.adminUrl.url.password;
  if (adminPassword) maskAll(platform, decodeURIComponentSafe(adminPassword));
  // Direct mode needs no token; when the job has one, its claims make a better audit marker.
  // The provider's driver loads while the token request is on the wire.
  const [token, provider] = await Promise.all([
    getIdToken(platform.tokens, settings.audience, false),
    providerFor(settings)
  ]);
  if (token) maskAll(platform, token.token);
  const identity = platform.identity(token?.claims);

  const username = makeUsername(settings.usernamePrefix, runKey(identity));
  const password = makePassword();
  maskAll(platform, password); // before the password exists anywhere else

  const created = new Date();
  // Whole seconds, rounded up: the credential lives at least as long as asked.
  const expiresAt = new Date(Math.ceil(created.getTime() / 1000 + settings.ttlSeconds) * 1000);
  const credential = await provider.issue({
    username,
    password,
    roles: settings.roles,
    database: settings.database,
    expiresAt,
    marker: {
      tool: 'ephemeral-credentials',
      version: VERSION,
      created: created.toISOString(),
      expires: expiresAt.toISOString(),
      run: identity
    }
  });

  try {
    maskAll(platform, credential.url);
    for (const note of credential.notes ?? []) platform.warning(note);
    const names = Object.keys(credential.env).map((name) => settings.envPrefix + name);
    const state: LeaseState = {
      v: 1,
      provider: settings.provider,
      leaseId: username,
      username,
      expiresAt: expiresAt.toISOString(),
      target: `${credential.host}:${credential.port}/${credential.database}`,
      exported: settings.exportEnv ? names : []
    };
    await platform.saveState(state);

    const outputs: Record<string, string> = {
      username,
      password,
      url: credential.url,
      'expires-at': state.expiresAt,
      'lease-id': state.leaseId
    };
    for (const [name, value] of Object.entries(outputs)) platform.setOutput(name, value);
    if (settings.exportEnv) {
      for (const [name, value] of Object.entries(credential.env)) {
        platform.exportVariable(settings.envPrefix + name, value);
      }
    }
    await platform.flush();
    platform.info(
      `Created ${settings.provider} user ${username} on ${state.target}` +
        ` (roles: ${settings.roles.join(', ') || 'none'}), valid for ${formatDuration(settings.ttlSeconds)}` +
        ` until ${state.expiresAt}`
    );
    await platform.summary({
      username,
      roles: settings.roles,
      database: credential.database,
      target: `${credential.host}:${credential.port}`,
      expiresAt: state.expiresAt
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
