/**
 * A local stand-in for AWS STS `AssumeRoleWithWebIdentity`: no real STS can run here, so tests
 * point the real `@aws-sdk/client-sts` at this endpoint instead.
 *
 * It speaks what the SDK sends (awsQuery: an unsigned `POST /` with a form-urlencoded body,
 * `Action=AssumeRoleWithWebIdentity&Version=2011-06-15&...`) and answers with STS's XML, errors
 * included, so the SDK parses both exactly as it parses the real service's answers. The token is
 * verified like STS does it: signature against the issuer's JWKS, `iss`, `aud`, expiry.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRemoteJWKSet, errors, jwtVerify, type JWTPayload } from 'jose';

/** One `AssumeRoleWithWebIdentity` call as the fixture received it. */
export interface StsRequest {
  RoleArn?: string;
  RoleSessionName?: string;
  DurationSeconds?: number;
  Policy?: string;
  PolicyArns: string[];
  WebIdentityToken?: string;
  ProviderId?: string;
  /** Whether the call carried an `Authorization` header; the real operation needs none. */
  signed: boolean;
}

/** Credentials the fixture handed out, as it sent them. */
export interface StsIssued {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  expiration: Date;
}

/** A running local STS endpoint. */
export interface LocalSts {
  /** `http://127.0.0.1:<port>`, for the SDK's `endpoint` option. */
  endpoint: string;
  /** Every `AssumeRoleWithWebIdentity` call received, failed ones included. */
  requests: StsRequest[];
  /** What successful calls handed out, in order. */
  issued: StsIssued[];
  /** Makes the next `times` calls (default 1) fail with this status and STS error code. */
  failNext(status: number, code: string, message: string, times?: number): void;
  close(): Promise<void>;
}

/** How the fixture's role and identity provider are set up. */
export interface LocalStsOptions {
  /** The only `iss` accepted: the IAM OIDC identity provider's URL. */
  issuer: string;
  jwksUri: string;
  /** The OIDC provider's client id (the `aud` accepted); default `sts.amazonaws.com`. */
  audience?: string;
  /** The role's MaxSessionDuration in seconds, 3600 to 43200 as in IAM; default 3600. */
  maxSessionDuration?: number;
  /** The role's trust policy; default: allow every verified token. */
  trust?: (claims: JWTPayload, request: StsRequest) => boolean | Promise<boolean>;
  /** The account that owns the role; other accounts' roles are not found. Default 123456789012. */
  accountId?: string;
}

const VERSION = '2011-06-15';
const XMLNS = `https://sts.amazonaws.com/doc/${VERSION}/`;
const UPPER_ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const SECRET_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** An error STS would answer with: HTTP status, `Code` and `Message` of its ErrorResponse. */
class StsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string
  ) {
    super(message);
  }
}

const invalid = (message: string) => new StsError(400, 'ValidationError', message);
const constraint = (value: unknown, field: string, rule: string) =>
  invalid(
    `1 validation error detected: Value ${value === undefined ? 'null' : `'${String(value)}'`} ` +
      `at '${field}' failed to satisfy constraint: Member must ${rule}`
  );

const pick = (chars: string, length: number) =>
  Array.from({ length }, () => chars[randomInt(chars.length)]).join('');

const escapeXml = (text: string) =>
  text.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!
  );

/** `<a><b>x</b></a>` from nested objects; undefined members are left out. */
function xml(tree: Record<string, unknown>): string {
  return Object.entries(tree)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => {
      const inner =
        typeof value === 'object' && value !== null
          ? xml(value as Record<string, unknown>)
          : escapeXml(String(value));
      return `<${name}>${inner}</${name}>`;
    })
    .join('');
}

/** STS timestamps carry whole seconds: `2025-01-01T12:00:00Z`. */
const stsTime = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The request's parameters, from the form body (POST) or the query string (GET), as STS reads. */
async function readParams(req: IncomingMessage): Promise<URLSearchParams> {
  const params = new URL(req.url ?? '/', 'http://localhost').searchParams;
  let body = '';
  for await (const chunk of req) {
    body += chunk;
    if (body.length > 1_000_000) throw new StsError(413, 'RequestEntityTooLarge', 'Too large');
  }
  for (const [name, value] of new URLSearchParams(body)) params.append(name, value);
  return params;
}

function parseRequest(params: URLSearchParams, req: IncomingMessage): StsRequest {
  const policyArns: string[] = [];
  for (let i = 1; params.has(`PolicyArns.member.${i}.arn`); i++)
    policyArns.push(params.get(`PolicyArns.member.${i}.arn`)!);
  const duration = params.get('DurationSeconds');
  return {
    RoleArn: params.get('RoleArn') ?? undefined,
    RoleSessionName: params.get('RoleSessionName') ?? undefined,
    DurationSeconds: duration === null ? undefined : Number(duration),
    Policy: params.get('Policy') ?? undefined,
    PolicyArns: policyArns,
    WebIdentityToken: params.get('WebIdentityToken') ?? undefined,
    ProviderId: params.get('ProviderId') ?? undefined,
    signed: req.headers.authorization !== undefined
  };
}

/** The checks STS makes on the parameters before it looks at the token. */
function validate(request: StsRequest): void {
  const { RoleArn, RoleSessionName, DurationSeconds, Policy, PolicyArns } = request;
  if (!RoleArn) throw constraint(undefined, 'roleArn', 'not be null');
  if (!RoleSessionName) throw constraint(undefined, 'roleSessionName', 'not be null');
  if (!request.WebIdentityToken) throw constraint(undefined, 'webIdentityToken', 'not be null');
  if (RoleSessionName.length < 2 || RoleSessionName.length > 64)
    throw constraint(RoleSessionName, 'roleSessionName', 'have length between 2 and 64');
  if (!/^[\w+=,.@-]+$/.test(RoleSessionName))
    throw constraint(
      RoleSessionName,
      'roleSessionName',
      'satisfy regular expression pattern: [\\w+=,.@-]*'
    );
  if (!/^arn:aws:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/.test(RoleArn))
    throw invalid('Request ARN is invalid');
  if (DurationSeconds !== undefined) {
    if (!Number.isInteger(DurationSeconds))
      throw invalid(`Value '${DurationSeconds}' for parameter DurationSeconds is invalid.`);
    if (DurationSeconds < 900)
      throw constraint(
        DurationSeconds,
        'durationSeconds',
        'have value greater than or equal to 900'
      );
    if (DurationSeconds > 43200)
      throw constraint(
        DurationSeconds,
        'durationSeconds',
        'have value less than or equal to 43200'
      );
  }
  if (Policy !== undefined) {
    if (Policy.length > 2048)
      throw constraint('...', 'policy', 'have length less than or equal to 2048');
    try {
      JSON.parse(Policy);
    } catch {
      throw new StsError(
        400,
        'MalformedPolicyDocument',
        'The policy is not in the valid JSON format.'
      );
    }
  }
  if (PolicyArns.length > 10)
    throw constraint('[...]', 'policyArns', 'have length less than or equal to 10');
}

/** Starts the fixture on 127.0.0.1 with a fresh port. */
export async function startLocalSts(options: LocalStsOptions): Promise<LocalSts> {
  const audience = options.audience ?? 'sts.amazonaws.com';
  const maxSessionDuration = options.maxSessionDuration ?? 3600;
  const accountId = options.accountId ?? '123456789012';
  if (
    !Number.isInteger(maxSessionDuration) ||
    maxSessionDuration < 3600 ||
    maxSessionDuration > 43200
  )
    throw new Error(`maxSessionDuration ${maxSessionDuration} is outside IAM's range 3600..43200`);
  if (!/^\d{12}$/.test(accountId)) throw new Error(`accountId "${accountId}" is not 12 digits`);

  const jwks = createRemoteJWKSet(new URL(options.jwksUri));
  const requests: StsRequest[] = [];
  const issued: StsIssued[] = [];
  const failures: StsError[] = [];

  async function verifyToken(token: string): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: options.issuer,
        audience,
        algorithms: ['RS256']
      });
      return payload;
    } catch (error) {
      if (error instanceof errors.JWTExpired) {
        const now = Math.floor(Date.now() / 1000);
        throw new StsError(
          400,
          'ExpiredTokenException',
          `Token expired: current date/time ${now} must be before the expiration date/time ${error.payload.exp}`
        );
      }
      if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'aud')
        throw new StsError(400, 'InvalidIdentityToken', 'Incorrect token audience');
      if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'iss')
        throw new StsError(
          400,
          'InvalidIdentityToken',
          `No OpenIDConnect provider found in your account for ${String(error.payload.iss)}`
        );
      if (error instanceof errors.JWKSTimeout)
        throw new StsError(400, 'IDPCommunicationError', 'Could not reach the identity provider');
      // A JWKS that cannot be fetched or read comes as a generic JOSEError or no JOSEError at all.
      const jwksUnreadable =
        !(error instanceof errors.JOSEError) ||
        error instanceof errors.JWKSInvalid ||
        error.code === 'ERR_JOSE_GENERIC';
      if (!jwksUnreadable)
        throw new StsError(400, 'InvalidIdentityToken', `Token is not valid: ${error.message}`);
      throw new StsError(
        400,
        'InvalidIdentityToken',
        "Couldn't retrieve verification key from your identity provider, please reference " +
          'AssumeRoleWithWebIdentity documentation for requirements'
      );
    }
  }

  async function assumeRole(request: StsRequest): Promise<Record<string, unknown>> {
    validate(request);
    const claims = await verifyToken(request.WebIdentityToken!);
    const [, roleAccount, rolePath] = /^arn:aws:iam::(\d{12}):role\/(.+)$/.exec(request.RoleArn!)!;
    const allowed = roleAccount === accountId && (await (options.trust?.(claims, request) ?? true));
    if (!allowed)
      throw new StsError(
        403,
        'AccessDenied',
        'Not authorized to perform sts:AssumeRoleWithWebIdentity'
      );
    const duration = request.DurationSeconds ?? 3600;
    if (duration > maxSessionDuration)
      throw invalid(
        'The requested DurationSeconds exceeds the MaxSessionDuration set for this role.'
      );

    const roleName = rolePath!.split('/').pop()!;
    const credentials: StsIssued = {
      accessKeyId: `ASIA${pick(UPPER_ALNUM, 16)}`,
      secretAccessKey: pick(SECRET_CHARS, 40),
      sessionToken: `IQoJb3JpZ2luX2Vj${randomBytes(640).toString('base64')}`,
      expiration: new Date(Math.floor(Date.now() / 1000 + duration) * 1000)
    };
    issued.push(credentials);
    const sessionPolicies = (request.Policy?.length ?? 0) + request.PolicyArns.join('').length;
    return {
      Credentials: {
        AccessKeyId: credentials.accessKeyId,
        SecretAccessKey: credentials.secretAccessKey,
        SessionToken: credentials.sessionToken,
        Expiration: stsTime(credentials.expiration)
      },
      SubjectFromWebIdentityToken: claims.sub,
      AssumedRoleUser: {
        Arn: `arn:aws:sts::${accountId}:assumed-role/${roleName}/${request.RoleSessionName}`,
        AssumedRoleId: `AROA${pick(UPPER_ALNUM, 17)}:${request.RoleSessionName}`
      },
      PackedPolicySize: sessionPolicies ? Math.ceil((sessionPolicies / 2048) * 100) : undefined,
      Provider: options.issuer,
      Audience: audience
    };
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    const send = (status: number, body: string) => {
      res
        .writeHead(status, { 'content-type': 'text/xml', 'x-amzn-RequestId': requestId })
        .end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}\n`);
    };
    try {
      const params = await readParams(req);
      const action = params.get('Action');
      if (action !== 'AssumeRoleWithWebIdentity' || params.get('Version') !== VERSION)
        throw new StsError(
          400,
          'InvalidAction',
          `Could not find operation ${action} for version ${params.get('Version')}`
        );
      const request = parseRequest(params, req);
      requests.push(request);
      const failure = failures.shift();
      if (failure) throw failure;
      const result = await assumeRole(request);
      send(
        200,
        `<AssumeRoleWithWebIdentityResponse xmlns="${XMLNS}">` +
          xml({
            AssumeRoleWithWebIdentityResult: result,
            ResponseMetadata: { RequestId: requestId }
          }) +
          '</AssumeRoleWithWebIdentityResponse>'
      );
    } catch (error) {
      const { status, code, message } =
        error instanceof StsError ? error : new StsError(500, 'InternalFailure', String(error));
      send(
        status,
        `<ErrorResponse xmlns="${XMLNS}">` +
          xml({
            Error: { Type: status >= 500 ? 'Receiver' : 'Sender', Code: code, Message: message },
            RequestId: requestId
          }) +
          '</ErrorResponse>'
      );
    }
  }

  const server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    issued,
    failNext(status, code, message, times = 1) {
      for (let i = 0; i < times; i++) failures.push(new StsError(status, code, message));
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // The SDK keeps its connections alive; without this close() waits for them to time out.
        server.closeAllConnections();
      })
  };
}
