import { getIdToken } from '../oidc/token.js';
import { registerSecret } from '../util/errors.js';
import type { Platform } from './types.js';

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
 * A fresh OIDC token for each request to a broker or STS, masked before use; `first`, a token
 * already in hand, serves the first request.
 */
export function freshTokens(
  platform: Platform,
  audience: string,
  first?: string
): () => Promise<string> {
  let unused = first;
  return async () => {
    const token = unused ?? (await getIdToken(platform.tokens, audience, true))!.token;
    unused = undefined;
    maskAll(platform, token);
    return token;
  };
}
