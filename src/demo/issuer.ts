import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

/** A local OIDC issuer: signs tokens with a fresh RS256 key and serves its discovery and JWKS. */
export interface LocalIssuer {
  issuer: string;
  jwks: { keys: JWK[] };
  /** Signs a token for the audience; `expiresIn` in seconds may be negative for tests. */
  mint(audience: string, claims?: JWTPayload, expiresIn?: number): Promise<string>;
  /** A GitHub-runner-style token endpoint: ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN. */
  actionsEnv: { ACTIONS_ID_TOKEN_REQUEST_URL: string; ACTIONS_ID_TOKEN_REQUEST_TOKEN: string };
  /** Claims every minted token carries, like a GitHub Actions run's. */
  runClaims: JWTPayload;
  close(): Promise<void>;
}

/** Starts the issuer on 127.0.0.1; `runClaims` become the claims of every token it signs. */
export async function startLocalIssuer(runClaims: JWTPayload = {}): Promise<LocalIssuer> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const kid = randomBytes(8).toString('hex');
  const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }] };
  const requestToken = randomBytes(16).toString('hex');
  let issuer = '';

  // Standard claims first, so that a test can override any of them (a wrong iss, a future nbf).
  const mint = (audience: string, claims: JWTPayload = {}, expiresIn = 300) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({
      iss: issuer,
      aud: audience,
      jti: randomUUID(), // as GitHub's: no two tokens alike, even within one second
      iat: now,
      nbf: now - 5,
      exp: now + expiresIn,
      ...runClaims,
      ...claims
    })
      .setProtectedHeader({ alg: 'RS256', kid, typ: 'JWT' })
      .sign(privateKey);
  };

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      json(200, {
        issuer,
        jwks_uri: `${issuer}/.well-known/jwks`,
        id_token_signing_alg_values_supported: ['RS256']
      });
    } else if (url.pathname === '/.well-known/jwks') {
      json(200, jwks);
    } else if (url.pathname === '/token') {
      if (req.headers.authorization !== `Bearer ${requestToken}`)
        return json(401, { message: 'bad request token' });
      mint(url.searchParams.get('audience') ?? issuer).then(
        (value) => json(200, { value }),
        () => json(500, { message: 'signing failed' })
      );
    } else {
      json(404, { message: 'not found' });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  return {
    issuer,
    jwks,
    mint,
    runClaims,
    actionsEnv: {
      ACTIONS_ID_TOKEN_REQUEST_URL: `${issuer}/token?api-version=2.0`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken
    },
    close: () => new Promise((resolve) => server.close(() => resolve()))
  };
}
