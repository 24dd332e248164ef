import { runKey, type RunIdentity } from '../oidc/identity.js';
import { makePassword, makeUsername } from '../util/names.js';
import { VERSION } from '../version.js';
import type { IssueRequest } from './types.js';

/**
 * A new user for a run: a name from the run's hash and a random part, a strong password, an
 * expiry rounded up to whole seconds (it lives at least as long as asked) and the marker.
 */
export function newUserRequest(options: {
  prefix: string;
  run: RunIdentity;
  ttlSeconds: number;
  roles: string[];
  database: string;
}): IssueRequest {
  const created = new Date();
  const expiresAt = new Date(Math.ceil(created.getTime() / 1000 + options.ttlSeconds) * 1000);
  return {
    username: makeUsername(options.prefix, runKey(options.run)),
    password: makePassword(),
    roles: options.roles,
    database: options.database,
    expiresAt,
    marker: {
      tool: 'ephemeral-credentials',
      version: VERSION,
      created: created.toISOString(),
      expires: expiresAt.toISOString(),
      run: options.run
    }
  };
}
