import type { ProviderName } from './settings.js';

/** What main hands to post (and `issue` to `revoke`): handles only, never a password. */
export interface LeaseState {
  v: 1;
  provider: ProviderName;
  leaseId: string;
  username: string;
  expiresAt: string;
  /** host:port/database, to say what was revoked; no credentials. */
  target: string;
  /** Names of the variables exported, so a later step can clear them. */
  exported: string[];
  /** Broker mode: the broker that holds the lease. */
  broker?: string;
}

/** The one key under which the GitHub state holds the lease. */
export const STATE_KEY = 'lease';

/** Serialises the state; the inverse of parseState. */
export function stringifyState(state: LeaseState): string {
  return JSON.stringify(state);
}

/** Reads a saved state; undefined when there is none, an error when it is not ours. */
export function parseState(text: string | undefined): LeaseState | undefined {
  if (!text?.trim()) return undefined;
  let state: Partial<LeaseState> | null;
  try {
    state = JSON.parse(text) as Partial<LeaseState> | null;
  } catch {
    throw new Error('the saved state is not JSON; it was not written by ephemeral-credentials');
  }
  if (state?.v !== 1 || typeof state.username !== 'string' || typeof state.provider !== 'string') {
    throw new Error('the saved state is not one this version understands');
  }
  return state as LeaseState;
}
