import { createRemoteJWKSet, decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';

/** An OIDC issuer whose tokens a broker accepts. */
export interface TrustedIssuer {
  issuer: string;
  audiences: string[];
  /** Default: the jwks_uri of <issuer>/.well-known/openid-configuration. */
  jwksUri?: string;
}

// Asymmetric signatures only: never `none`, never HMAC (whose key would be the public key).
export const ALLOWED_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA'
];
const LEEWAY_SECONDS = 60;
const ISSUER_FAILURES = new Set(['ERR_JWKS_TIMEOUT', 'ERR_JOSE_GENERIC']);

/** Why a token was refused, in words safe to return to the caller. */
export class TokenError extends Error {
  override name = 'TokenError';
}

/**
 * A verifier for a set of issuers: exact issuer and audience, expiry and not-before with at most
 * 60 s of leeway, an algorithm allow-list, and a signature from the issuer's JWKS. Each JWKS is
 * cached by jose and fetched again (at most every 30 s) when a token names an unknown key.
 */
export function tokenVerifier(issuers: TrustedIssuer[], fetchTimeoutMs = 5000) {
  const keySets = new Map<string, ReturnType<typeof createRemoteJWKSet>>();

  async function keysFor(issuer: TrustedIssuer) {
    let keys = keySets.get(issuer.issuer);
    if (!keys) {
      const uri = issuer.jwksUri ?? (await discoverJwksUri(issuer.issuer, fetchTimeoutMs));
      keys = createRemoteJWKSet(new URL(uri), {
        timeoutDuration: fetchTimeoutMs,
        cooldownDuration: 30_000
      });
      keySets.set(issuer.issuer, keys);
    }
    return keys;
  }

  return async function verify(token: string): Promise<JWTPayload> {
    // The issuer is read before the signature is checked only to choose which keys to check with.
    const iss = unverifiedIssuer(token);
    const issuer = issuers.find((candidate) => candidate.issuer === iss);
    if (!issuer) throw new TokenError('token issuer is not trusted');
    try {
      const { payload } = await jwtVerify(token, await keysFor(issuer), {
        issuer: issuer.issuer,
        audience: issuer.audiences,
        algorithms: ALLOWED_ALGORITHMS,
        clockTolerance: LEEWAY_SECONDS,
        maxTokenAge: '1h',
        requiredClaims: ['exp', 'iat', 'sub']
      });
      return payload;
    } catch (err) {
      // A JWKS that timed out or answered an error is the issuer's failure, not the caller's.
      if (err instanceof errors.JOSEError && !ISSUER_FAILURES.has(err.code)) {
        throw new TokenError(`token rejected: ${err.code}`);
      }
      throw err;
    }
  };
}

function unverifiedIssuer(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

async function discoverJwksUri(issuer: string, timeoutMs: number): Promise<string> {
  const response = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, {
    signal: AbortSignal.timeout(timeoutMs)
  });
  if (!response.ok) throw new Error(`OIDC discovery for ${issuer} answered ${response.status}`);
  const { jwks_uri: uri } = (await response.json()) as { jwks_uri?: unknown };
  if (typeof uri !== 'string') throw new Error(`OIDC discovery for ${issuer} names no jwks_uri`);
  return uri;
}
