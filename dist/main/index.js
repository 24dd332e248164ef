import { createRequire as __WEBPACK_EXTERNAL_createRequire } from "module";
/******/ var __webpack_modules__ = ({

/***/ 7675:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  s: () => (/* binding */ issue)
});

// EXTERNAL MODULE: ./node_modules/jose/dist/webapi/util/decode_jwt.js + 4 modules
var decode_jwt = __nccwpck_require__(9937);
// EXTERNAL MODULE: ./src/util/errors.ts
var errors = __nccwpck_require__(17);
// EXTERNAL MODULE: ./src/util/retry.ts
var retry = __nccwpck_require__(4266);
;// CONCATENATED MODULE: ./src/oidc/token.ts



// @actions/core flattens a network failure into text ("Error Code : undefined ... ECONNREFUSED").
const FLATTENED_NETWORK_ERROR = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|EPIPE)\b/;
/** An error a token request may succeed after: network trouble, throttling or a server error. */
function isTransientTokenError(err) {
    if ((0,retry/* isNetworkError */.T)(err))
        return true;
    const message = err instanceof Error ? err.message : String(err);
    if (FLATTENED_NETWORK_ERROR.test(message))
        return true;
    const status = /Error Code\s*:\s*(\d{3})/.exec(message)?.[1] ??
        err?.statusCode;
    const code = Number(status);
    return code === 429 || code >= 500;
}
/**
 * Gets a token for the audience, retrying transient failures with full jitter and a fresh request
 * each time. Returns undefined when no token can be had and none is required.
 */
async function getIdToken(source, audience, required, retryOptions = {}) {
    if (!source.available()) {
        if (required)
            throw new errors/* InputError */.dz(`This job has no OIDC token. ${source.missingHint}`);
        return undefined;
    }
    const token = await (0,retry/* retry */.L)(() => source.request(audience), {
        attempts: 4,
        baseMs: 500,
        maxMs: 4000,
        retryable: isTransientTokenError,
        ...retryOptions
    });
    return { token, claims: (0,decode_jwt/* decodeJwt */.i)(token) };
}

;// CONCATENATED MODULE: ./src/providers/load.ts
/**
 * Loads only the chosen provider's code (and driver): a PostgreSQL job never parses mysql2.
 */
async function loadProvider(target) {
    if (target.provider === 'mysql') {
        const { mysqlProvider } = await Promise.all(/* import() */[__nccwpck_require__.e(588), __nccwpck_require__.e(0)]).then(__nccwpck_require__.bind(__nccwpck_require__, 1000));
        return mysqlProvider(target.adminUrl, target.connectTimeoutMs, target.userHost);
    }
    const { postgresProvider } = await Promise.all(/* import() */[__nccwpck_require__.e(849), __nccwpck_require__.e(371)]).then(__nccwpck_require__.bind(__nccwpck_require__, 4371));
    return postgresProvider(target.adminUrl, target.connectTimeoutMs);
}

// EXTERNAL MODULE: ./src/providers/credential.ts
var providers_credential = __nccwpck_require__(8261);
// EXTERNAL MODULE: ./src/oidc/identity.ts
var identity = __nccwpck_require__(2319);
// EXTERNAL MODULE: ./src/util/names.ts
var names = __nccwpck_require__(5888);
;// CONCATENATED MODULE: ./src/version.ts
/** The version written into every marker; kept in step with package.json by a unit test. */
const VERSION = '0.1.0';

;// CONCATENATED MODULE: ./src/providers/request.ts



/**
 * A new user for a run: a name from the run's hash and a random part, a strong password, an
 * expiry rounded up to whole seconds (it lives at least as long as asked) and the marker.
 */
function newUserRequest(options) {
    const created = new Date();
    const expiresAt = new Date(Math.ceil(created.getTime() / 1000 + options.ttlSeconds) * 1000);
    return {
        username: (0,names/* makeUsername */.v4)(options.prefix, (0,identity/* runKey */.r7)(options.run)),
        password: (0,names/* makePassword */.WR)(),
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

// EXTERNAL MODULE: ./src/settings.ts
var src_settings = __nccwpck_require__(8750);
;// CONCATENATED MODULE: ./src/platform/secrets.ts


/** Registers a secret in every form it can appear in: raw, URL-encoded, and each of its lines. */
function maskAll(platform, secret) {
    const forms = new Set([secret, encodeURIComponent(secret), ...secret.split(/\r?\n/)]);
    for (const form of forms) {
        if (!form.trim())
            continue;
        platform.mask(form);
        (0,errors/* registerSecret */.cl)(form);
    }
}
/**
 * A fresh OIDC token for each request to a broker or STS, masked before use; `first`, a token
 * already in hand, serves the first request.
 */
function freshTokens(platform, audience, first) {
    let unused = first;
    return async () => {
        const token = unused ?? (await getIdToken(platform.tokens, audience, true)).token;
        unused = undefined;
        maskAll(platform, token);
        return token;
    };
}

// EXTERNAL MODULE: ./src/util/duration.ts
var duration = __nccwpck_require__(6518);
// EXTERNAL MODULE: ./src/util/text.ts
var util_text = __nccwpck_require__(9997);
;// CONCATENATED MODULE: ./src/issue.ts









/**
 * Hands a credential to the job, after its secrets were masked: state first (so the post step
 * can clean up whatever follows), then outputs, variables, the log line and the summary.
 */
async function deliver(settings, platform, d) {
    const names = Object.keys(d.env).map((name) => settings.envPrefix + name);
    await platform.saveState({ v: 1, ...d.state, exported: settings.exportEnv ? names : [] });
    for (const [name, value] of Object.entries(d.outputs))
        platform.setOutput(name, value);
    if (settings.exportEnv) {
        for (const [name, value] of Object.entries(d.env))
            platform.exportVariable(settings.envPrefix + name, value);
    }
    await platform.flush();
    platform.info(d.message);
    await platform.summary(d.summary);
}
/** Issues this job's credential: a database user (returned, for callers such as the demo), or an AWS session. */
async function issue(settings, platform, providerFor = loadProvider) {
    if (settings.provider === 'aws')
        return issueAwsSession(settings, platform);
    if ((0,src_settings/* isBrokerMode */.$q)(settings))
        return issueViaBroker(settings, platform);
    return issueDatabaseUser(settings, platform, providerFor);
}
/**
 * Learns who the run is, creates the user, masks, saves state, exports. Anything that fails
 * after the user exists revokes it again.
 */
async function issueDatabaseUser(settings, platform, providerFor) {
    // GitHub masks secrets.* itself, but an admin URL assembled in the workflow may not be.
    const adminPassword = settings.adminUrl.url.password;
    if (adminPassword)
        maskAll(platform, (0,util_text/* percentDecoded */.o)(adminPassword));
    // Direct mode needs no token; when the job has one, its claims make a better audit marker.
    // The provider's driver loads while the token request is on the wire.
    const [token, provider] = await Promise.all([
        getIdToken(platform.tokens, settings.audience, false),
        providerFor(settings)
    ]);
    if (token)
        maskAll(platform, token.token);
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
        for (const note of credential.notes ?? [])
            platform.warning(note);
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
            message: `Created ${settings.provider} user ${username} on ${target}` +
                ` (roles: ${settings.roles.join(', ') || 'none'}), valid for ${(0,duration/* formatDuration */.a)(settings.ttlSeconds)}` +
                ` until ${expiresAt.toISOString()}`,
            summary: {
                who: username,
                grants: settings.roles,
                where: `${credential.database} on ${credential.host}:${credential.port}`,
                expiresAt: expiresAt.toISOString()
            }
        });
        return credential;
    }
    catch (err) {
        // Nobody will learn of this user, so it must not live on until its TTL.
        await provider.revoke(username).catch((revokeErr) => {
            platform.warning(`Could not remove ${username} after a failure: ${(0,errors/* errorMessage */.gJ)(revokeErr)}`);
        });
        throw err;
    }
}
/**
 * Sends the job's OIDC token to a broker, which checks it against the profile and creates the
 * user; the job never holds an admin secret. A failure after the broker answered revokes again.
 */
async function issueViaBroker(settings, platform) {
    const { requestLease, revokeLease } = await __nccwpck_require__.e(/* import() */ 198).then(__nccwpck_require__.bind(__nccwpck_require__, 9198));
    const tokens = freshTokens(platform, settings.audience);
    const lease = await requestLease(settings.brokerUrl, { profile: settings.profile, ttl: (0,duration/* formatDuration */.a)(settings.ttlSeconds) }, tokens);
    maskAll(platform, lease.password);
    maskAll(platform, lease.url);
    const credential = (0,providers_credential/* credentialFor */.F)(settings.provider, {
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
    }
    catch (err) {
        await revokeLease(settings.brokerUrl, lease.lease_id, tokens).catch((revokeErr) => {
            platform.warning(`Could not revoke ${lease.username} after a failure: ${(0,errors/* errorMessage */.gJ)(revokeErr)}`);
        });
        throw err;
    }
}
/** Exchanges the job's OIDC token for an STS session, masks it and exports it. */
async function issueAwsSession(settings, platform) {
    // The account is in the role ARN already: masked before any error could print that ARN.
    if (settings.maskAccountId)
        maskAll(platform, settings.roleArn.split(':')[4]);
    const { assumeRole, makeSessionName, STS_MIN_SECONDS } = await Promise.all(/* import() */[__nccwpck_require__.e(695), __nccwpck_require__.e(426)]).then(__nccwpck_require__.bind(__nccwpck_require__, 5426));
    // The first token proves the job may have one (else: which permission to add) and names the run.
    const first = await getIdToken(platform.tokens, settings.audience, true);
    maskAll(platform, first.token);
    const identity = platform.identity(first.claims);
    const sessionName = settings.sessionName ?? makeSessionName(settings.usernamePrefix, identity);
    if (settings.ttlSeconds < STS_MIN_SECONDS) {
        platform.notice(`ttl ${(0,duration/* formatDuration */.a)(settings.ttlSeconds)} is shorter than STS allows; the session lasts ${(0,duration/* formatDuration */.a)(STS_MIN_SECONDS)}`);
    }
    const session = await assumeRole(settings, sessionName, freshTokens(platform, settings.audience, first.token));
    for (const secret of [session.accessKeyId, session.secretAccessKey, session.sessionToken])
        maskAll(platform, secret);
    if (settings.maskAccountId)
        maskAll(platform, session.accountId); // the same, unless STS differs
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


/***/ }),

/***/ 1730:
/***/ ((module, __unused_webpack___webpack_exports__, __nccwpck_require__) => {

__nccwpck_require__.a(module, async (__webpack_handle_async_dependencies__, __webpack_async_result__) => { try {
/* harmony import */ var _issue_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(7675);
/* harmony import */ var _platform_github_js__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(7307);
/* harmony import */ var _settings_js__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(8750);
/* harmony import */ var _util_errors_js__WEBPACK_IMPORTED_MODULE_3__ = __nccwpck_require__(17);




const platform = (0,_platform_github_js__WEBPACK_IMPORTED_MODULE_1__/* .githubPlatform */ .Z)();
try {
    await (0,_issue_js__WEBPACK_IMPORTED_MODULE_0__/* .issue */ .s)((0,_settings_js__WEBPACK_IMPORTED_MODULE_2__/* .readSettings */ .sb)(platform.input), platform);
}
catch (err) {
    platform.fail((0,_util_errors_js__WEBPACK_IMPORTED_MODULE_3__/* .errorMessage */ .gJ)(err));
}

__webpack_async_result__();
} catch(e) { __webpack_async_result__(e); } }, 1);

/***/ }),

/***/ 2319:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   r7: () => (/* binding */ runKey),
/* harmony export */   wl: () => (/* binding */ githubIdentity)
/* harmony export */ });
/* unused harmony export cliIdentity */
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(8161);
/* harmony import */ var node_os__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__nccwpck_require__.n(node_os__WEBPACK_IMPORTED_MODULE_0__);

/** The key a user name's hash is made from: stable for one run, free of readable claim text. */
function runKey(identity) {
    return [
        identity.platform,
        identity.repository_id ?? identity.repository,
        identity.run_id,
        identity.run_attempt
    ]
        .map((part) => part ?? '')
        .join(':');
}
/** A GitHub run's identity: token claims when there is a token, else the runner's GITHUB_* variables. */
function githubIdentity(env, claims) {
    if (claims) {
        return compact({
            platform: 'github',
            source: 'oidc',
            repository: str(claims.repository),
            repository_id: str(claims.repository_id),
            run_id: str(claims.run_id),
            run_attempt: str(claims.run_attempt),
            workflow: str(claims.workflow),
            ref: str(claims.ref),
            actor: str(claims.actor),
            job: env.GITHUB_JOB,
            sub: str(claims.sub)
        });
    }
    return compact({
        platform: 'github',
        source: 'env',
        repository: env.GITHUB_REPOSITORY,
        repository_id: env.GITHUB_REPOSITORY_ID,
        run_id: env.GITHUB_RUN_ID,
        run_attempt: env.GITHUB_RUN_ATTEMPT,
        workflow: env.GITHUB_WORKFLOW,
        ref: env.GITHUB_REF,
        actor: env.GITHUB_ACTOR,
        job: env.GITHUB_JOB
    });
}
/** The identity the CLI sees: GitHub's, a GitLab job's (project and job ids play repository and run), or this machine's. */
function cliIdentity(env, claims) {
    if (env.GITHUB_ACTIONS === 'true' || claims?.run_id !== undefined)
        return githubIdentity(env, claims);
    if (env.GITLAB_CI === 'true' || claims?.project_id) {
        const get = (claim, name) => str(claims?.[claim]) ?? env[name];
        return compact({
            platform: 'gitlab',
            source: claims ? 'oidc' : 'env',
            repository: get('project_path', 'CI_PROJECT_PATH'),
            repository_id: get('project_id', 'CI_PROJECT_ID'),
            run_id: get('job_id', 'CI_JOB_ID'),
            // GitLab has no attempts: a retried job is a new job with its own id.
            pipeline: get('pipeline_id', 'CI_PIPELINE_ID'),
            ref: get('ref', 'CI_COMMIT_REF_NAME'),
            actor: get('user_login', 'GITLAB_USER_LOGIN'),
            job: env.CI_JOB_NAME,
            sub: str(claims?.sub)
        });
    }
    return compact({
        platform: 'local',
        source: claims ? 'oidc' : 'env',
        repository: str(claims?.repository),
        run_id: `${hostname()}:${process.pid}`,
        actor: str(claims?.sub) ?? env.USER,
        sub: str(claims?.sub)
    });
}
function str(value) {
    return typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
}
function compact(identity) {
    return Object.fromEntries(Object.entries(identity).filter(([, v]) => v !== undefined && v !== ''));
}


/***/ }),

/***/ 7307:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  Z: () => (/* binding */ githubPlatform)
});

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __nccwpck_require__(7598);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __nccwpck_require__(3024);
// EXTERNAL MODULE: external "node:os"
var external_node_os_ = __nccwpck_require__(8161);
// EXTERNAL MODULE: ./src/oidc/identity.ts
var identity = __nccwpck_require__(2319);
;// CONCATENATED MODULE: ./src/state.ts
/** The one key under which the GitHub state holds the lease. */
const STATE_KEY = 'lease';
/** Serialises the state; the inverse of parseState. */
function stringifyState(state) {
    return JSON.stringify(state);
}
/** Reads a saved state; undefined when there is none, an error when it is not ours. */
function parseState(text) {
    if (!text?.trim())
        return undefined;
    let state;
    try {
        state = JSON.parse(text);
    }
    catch {
        throw new Error('the saved state is not JSON; it was not written by ephemeral-credentials');
    }
    if (state?.v !== 1 || typeof state.username !== 'string' || typeof state.provider !== 'string') {
        throw new Error('the saved state is not one this version understands');
    }
    return state;
}

;// CONCATENATED MODULE: ./src/platform/github.ts





// The runner's workflow commands and command files are written here directly, as the runner
// documents them: importing @actions/core evaluates its HTTP client (undici) at start-up, which
// costs more than Node's own start and is needed only to fetch an OIDC token. So @actions/core
// is loaded on that path alone.
/** Escapes a workflow command's data the way the runner unescapes it. */
function escapeData(text) {
    return text.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
/** The GitHub Actions runner as a platform. */
function githubPlatform(env = process.env) {
    const command = (name, message) => process.stdout.write(`::${name}::${escapeData(message)}${external_node_os_.EOL}`);
    // GITHUB_ENV, GITHUB_OUTPUT, GITHUB_STATE: `name<<delimiter` blocks with an unguessable delimiter.
    const fileCommand = (file, name, value) => {
        const path = env[file];
        if (!path)
            throw new Error(`${file} is not set: this does not look like a GitHub Actions runner`);
        const delimiter = `ghadelimiter_${(0,external_node_crypto_.randomUUID)()}`;
        if (name.includes(delimiter) || value.includes(delimiter))
            throw new Error(`unexpected delimiter in ${name}`);
        (0,external_node_fs_.appendFileSync)(path, `${name}<<${delimiter}${external_node_os_.EOL}${value}${external_node_os_.EOL}${delimiter}${external_node_os_.EOL}`, 'utf8');
    };
    const appendSummary = (markdown) => {
        if (env.GITHUB_STEP_SUMMARY)
            (0,external_node_fs_.appendFileSync)(env.GITHUB_STEP_SUMMARY, `${markdown}${external_node_os_.EOL}`, 'utf8');
    };
    return {
        input: (name) => (env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim(),
        tokens: {
            available: () => Boolean(env.ACTIONS_ID_TOKEN_REQUEST_URL && env.ACTIONS_ID_TOKEN_REQUEST_TOKEN),
            request: async (audience) => (await __nccwpck_require__.e(/* import() */ 421).then(__nccwpck_require__.bind(__nccwpck_require__, 6421))).getIDToken(audience),
            missingHint: 'Add `permissions: id-token: write` to the job (or workflow) that uses this action.'
        },
        identity: (claims) => (0,identity/* githubIdentity */.wl)(env, claims),
        mask: (secret) => command('add-mask', secret),
        exportVariable: (name, value) => {
            fileCommand('GITHUB_ENV', name, value);
            process.env[name] = value; // as the runner's own toolkit does, for later code in this step
        },
        setOutput: (name, value) => fileCommand('GITHUB_OUTPUT', name, value),
        flush: async () => undefined, // the runner's files are written as we go
        async saveState(state) {
            fileCommand('GITHUB_STATE', STATE_KEY, stringifyState(state));
        },
        async loadState() {
            return parseState(env[`STATE_${STATE_KEY}`]);
        },
        info: (message) => process.stdout.write(`${message}${external_node_os_.EOL}`),
        notice: (message) => command('notice', message),
        warning: (message) => command('warning', message),
        async summary(facts) {
            appendSummary([
                '### Ephemeral credentials',
                '',
                '| user | roles | where | expires at |',
                '| --- | --- | --- | --- |',
                `| ${facts.who} | ${facts.grants.join(', ') || '(none)'} | ${facts.where} | ${facts.expiresAt} |`,
                ''
            ].join(external_node_os_.EOL));
        },
        async summaryNote(line) {
            appendSummary(`${line}${external_node_os_.EOL}`);
        },
        fail: (message) => {
            command('error', message);
            process.exitCode = 1;
        }
    };
}


/***/ }),

/***/ 8261:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   F: () => (/* binding */ credentialFor)
/* harmony export */ });
/**
 * The URL and variables a job receives for a login: the same for a user this process made and
 * one a broker made, so both look alike to the job.
 */
function credentialFor(provider, login) {
    const url = new URL(`${provider}://${login.host.includes(':') ? `[${login.host}]` : login.host}:${login.port}`);
    url.username = login.username;
    url.password = login.password;
    url.pathname = `/${encodeURIComponent(login.database)}`;
    if (provider === 'postgres' && login.sslmode)
        url.searchParams.set('sslmode', login.sslmode);
    const env = provider === 'postgres'
        ? {
            DATABASE_URL: url.href,
            PGHOST: login.host,
            PGPORT: String(login.port),
            PGUSER: login.username,
            PGPASSWORD: login.password,
            PGDATABASE: login.database,
            ...(login.sslmode ? { PGSSLMODE: login.sslmode } : {})
        }
        : {
            DATABASE_URL: url.href,
            MYSQL_HOST: login.host,
            MYSQL_TCP_PORT: String(login.port),
            MYSQL_USER: login.username,
            MYSQL_PWD: login.password,
            MYSQL_DATABASE: login.database
        };
    return {
        username: login.username,
        host: login.host,
        port: login.port,
        database: login.database,
        url: url.href,
        env,
        expiresAt: login.expiresAt
    };
}


/***/ }),

/***/ 8750:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   $q: () => (/* binding */ isBrokerMode),
/* harmony export */   sb: () => (/* binding */ readSettings)
/* harmony export */ });
/* unused harmony exports MAX_TTL_SECONDS, readTarget, readProvider, parseAdminUrl, parseRoles, readBoolean */
/* harmony import */ var _util_errors_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(17);
/* harmony import */ var _util_duration_js__WEBPACK_IMPORTED_MODULE_1__ = __nccwpck_require__(6518);
/* harmony import */ var _util_names_js__WEBPACK_IMPORTED_MODULE_2__ = __nccwpck_require__(5888);
/* harmony import */ var _util_text_js__WEBPACK_IMPORTED_MODULE_3__ = __nccwpck_require__(9997);




/** True when a broker creates the user, not this process. */
function isBrokerMode(settings) {
    return 'brokerUrl' in settings;
}
const MAX_TTL_SECONDS = 12 * 3600;
const DEFAULT_AUDIENCE = 'ephemeral-credentials';
// MySQL's 32-character user names are the tightest limit we serve.
const MAX_PREFIX = 32 - _util_names_js__WEBPACK_IMPORTED_MODULE_2__/* .NAME_SUFFIX_LENGTH */ .nE;
const PREFIX = /^[a-z][a-z0-9_]*$/;
const ENV_PREFIX = /^[A-Za-z_][A-Za-z0-9_]*$/;
// Quoting would make any name safe; the narrow form catches typos and pasted quotes early.
const SQL_NAME = /^[A-Za-z_][A-Za-z0-9_$.-]{0,62}$/;
const PROVIDERS = ['postgres', 'mysql', 'aws'];
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/[\w+=,.@/-]{1,512}$/;
const POLICY_ARN = /^arn:aws(-[a-z]+)*:iam::(\d{12}|aws):policy\/[\w+=,.@/-]{1,512}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const SESSION_NAME = /^[\w+=,.@-]{2,64}$/;
const MYSQL_SSL_MODES = ['DISABLED', 'REQUIRED', 'VERIFY_CA', 'VERIFY_IDENTITY'];
const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/;
const URL_SCHEMES = {
    postgres: ['postgres:', 'postgresql:'],
    mysql: ['mysql:', 'mariadb:']
};
/** Turns raw inputs into Settings, or throws an InputError naming the bad value. */
function readSettings(get) {
    const provider = readProvider(get('provider'));
    const common = readCommon(get, provider);
    if (get('broker-url')) {
        if (get('admin-url'))
            throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz('admin-url and broker-url exclude each other; set one');
        if (provider === 'aws')
            throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz('broker-url is for database providers; provider aws talks to STS');
        const brokerUrl = readEndpoint('broker-url', get('broker-url')).replace(/\/$/, '');
        const profile = get('profile').trim();
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(profile)) {
            throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`profile "${profile}" is not a broker profile name; use the name the broker's config gives it`);
        }
        return { ...common, provider, brokerUrl, profile, audience: get('audience') || brokerUrl };
    }
    if (provider === 'aws')
        return { ...common, ...readAws(get) };
    const target = readTarget(get, provider);
    const database = get('database') || (0,_util_text_js__WEBPACK_IMPORTED_MODULE_3__/* .percentDecoded */ .o)(target.adminUrl.url.pathname.slice(1));
    if (!database)
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz('database is not set and the admin-url names none');
    checkSqlName('database', database);
    return {
        ...common,
        ...target,
        roles: parseRoles(get('roles')),
        database,
        userHost: readUserHost(get('user-host'))
    };
}
function readCommon(get, provider) {
    const usernamePrefix = get('username-prefix') || 'ci';
    if (!PREFIX.test(usernamePrefix) || usernamePrefix.length > MAX_PREFIX) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`username-prefix "${usernamePrefix}" must match [a-z][a-z0-9_]* and be at most ${MAX_PREFIX} characters`);
    }
    const envPrefix = get('env-prefix');
    if (envPrefix && !ENV_PREFIX.test(envPrefix)) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`env-prefix "${envPrefix}" must match [A-Za-z_][A-Za-z0-9_]*`);
    }
    return {
        ttlSeconds: (0,_util_duration_js__WEBPACK_IMPORTED_MODULE_1__/* .parseDuration */ .E)('ttl', get('ttl') || '1h', MAX_TTL_SECONDS),
        usernamePrefix,
        envPrefix,
        exportEnv: readBoolean('export-env', get('export-env'), true),
        revoke: readBoolean('revoke', get('revoke'), true),
        audience: get('audience') || (provider === 'aws' ? 'sts.amazonaws.com' : DEFAULT_AUDIENCE)
    };
}
function readAws(get) {
    for (const name of ['admin-url', 'roles', 'database']) {
        if (get(name)) {
            throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`${name} is for database providers; provider aws uses role-to-assume`);
        }
    }
    const roleArn = get('role-to-assume').trim();
    if (!ROLE_ARN.test(roleArn)) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`role-to-assume "${roleArn}" is not an IAM role ARN; use arn:aws:iam::123456789012:role/name`);
    }
    const region = get('aws-region').trim();
    if (!REGION.test(region)) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`aws-region "${region}" is not a region; use e.g. us-east-1 or eu-west-2`);
    }
    const sessionName = get('role-session-name').trim();
    if (sessionName && !SESSION_NAME.test(sessionName)) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`role-session-name "${sessionName}" must be 2 to 64 of letters, digits and _ + = , . @ -`);
    }
    const sessionPolicy = get('session-policy').trim();
    if (sessionPolicy) {
        let policy;
        try {
            policy = JSON.parse(sessionPolicy);
        }
        catch {
            throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz('session-policy is not JSON; give an IAM policy document');
        }
        if (!policy || typeof policy !== 'object' || Array.isArray(policy)) {
            throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz('session-policy is not a policy document (a JSON object)');
        }
    }
    const sessionPolicyArns = splitList(get('session-policy-arns'));
    for (const arn of sessionPolicyArns) {
        if (!POLICY_ARN.test(arn)) {
            throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`session-policy-arns: "${arn}" is not an IAM policy ARN; use arn:aws:iam::aws:policy/ReadOnlyAccess`);
        }
    }
    if (sessionPolicyArns.length > 10) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`session-policy-arns lists ${sessionPolicyArns.length}; STS takes at most 10`);
    }
    return {
        provider: 'aws',
        roleArn,
        region,
        ...(sessionName ? { sessionName } : {}),
        ...(get('sts-endpoint')
            ? { stsEndpoint: readEndpoint('sts-endpoint', get('sts-endpoint')) }
            : {}),
        ...(sessionPolicy ? { sessionPolicy } : {}),
        sessionPolicyArns,
        maskAccountId: readBoolean('mask-aws-account-id', get('mask-aws-account-id'), false)
    };
}
// The OIDC token travels to this endpoint, so only TLS, or plain HTTP on this machine.
function readEndpoint(name, text) {
    let url;
    try {
        url = new URL(text.trim());
    }
    catch {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`${name} "${text}" is not a URL; use e.g. https://creds.example.com`);
    }
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.test(url.hostname))) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`${name} "${text}" must use https (plain http only on localhost)`);
    }
    return url.href;
}
/** Reads the provider and admin URL; the provider may come from a saved state instead. */
function readTarget(get, provider = readProvider(get('provider'))) {
    if (provider === 'aws') {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz('provider aws has no database: STS sessions cannot be listed or swept');
    }
    if (!get('admin-url'))
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`admin-url is required for provider "${provider}"`);
    return {
        provider,
        adminUrl: parseAdminUrl(provider, get('admin-url')),
        connectTimeoutMs: (0,_util_duration_js__WEBPACK_IMPORTED_MODULE_1__/* .parseDuration */ .E)('connect-timeout', get('connect-timeout') || '10s', 300) * 1000
    };
}
/** Checks the provider name. */
function readProvider(text) {
    const provider = text.trim().toLowerCase();
    if (!text)
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`provider is required; use one of ${PROVIDERS.join(', ')}`);
    if (!PROVIDERS.includes(provider)) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`provider "${text}" is not known; use one of ${PROVIDERS.join(', ')}`);
    }
    return provider;
}
/** Parses an admin URL; its password is registered as a secret before anything can print it. */
function parseAdminUrl(provider, text) {
    const example = provider === 'mysql'
        ? 'mysql://user:password@host:3306/database'
        : 'postgres://user:password@host:5432/database';
    let url;
    try {
        url = new URL(text.trim());
    }
    catch {
        // The text may hold a password, so it is not echoed.
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`admin-url is not a URL (value hidden); use ${example}`);
    }
    if (url.password) {
        (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .registerSecret */ .cl)(url.password); // as written, e.g. "a&b%40c"
        (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .registerSecret */ .cl)((0,_util_text_js__WEBPACK_IMPORTED_MODULE_3__/* .percentDecoded */ .o)(url.password));
    }
    const shown = new URL(url.href);
    if (shown.password)
        shown.password = '***';
    // libpq also takes ?password=, and a URL without a host (no scheme?) may hold one anywhere.
    const queryPassword = shown.searchParams.get('password');
    if (queryPassword) {
        (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .registerSecret */ .cl)(queryPassword);
        shown.searchParams.set('password', '***');
    }
    const redacted = shown.host ? shown.href : '(value hidden)';
    if (!URL_SCHEMES[provider]?.includes(url.protocol)) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`admin-url "${redacted}" is not a ${provider} URL; use ${example}`);
    }
    if (!url.hostname || !url.username) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`admin-url "${redacted}" needs a user and a host; use ${example}`);
    }
    const sslMode = url.searchParams.get('ssl-mode');
    if (provider === 'mysql' && sslMode && !MYSQL_SSL_MODES.includes(sslMode.toUpperCase())) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`admin-url ssl-mode "${sslMode}" is not one of ${MYSQL_SSL_MODES.join(', ')}` +
            (/^preferred$/i.test(sslMode) ? ' (PREFERRED would fall back to plain text unnoticed)' : ''));
    }
    if (url.port && !(Number(url.port) > 0)) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`admin-url "${redacted}" has a bad port; use ${example}`);
    }
    return { url, redacted };
}
// The driver takes a % that starts no escape literally, so must we.
function splitList(text) {
    return text
        .split(/[,\n]/)
        .map((item) => item.trim())
        .filter(Boolean);
}
function readUserHost(text) {
    const host = text.trim() || '%';
    if (!/^[A-Za-z0-9_.%:-]{1,255}$/.test(host)) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`user-host "${text}" is not a MySQL host pattern; use e.g. %, 10.0.%, or db-client.example.com`);
    }
    return host;
}
/** Splits a comma- or newline-separated role list and checks each name. */
function parseRoles(text) {
    const roles = splitList(text);
    for (const role of roles)
        checkSqlName('role', role);
    return [...new Set(roles)];
}
function checkSqlName(what, name) {
    if (!SQL_NAME.test(name)) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`${what} "${name}" is not a plain name; use letters, digits and _ $ . - (at most 63, no quotes or spaces)`);
    }
}
/** Reads true/false (any case); "" gives the fallback. */
function readBoolean(name, text, fallback) {
    if (!text)
        return fallback;
    if (/^true$/i.test(text.trim()))
        return true;
    if (/^false$/i.test(text.trim()))
        return false;
    throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`${name} "${text}" is not a boolean; use true or false`);
}


/***/ }),

/***/ 6518:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   E: () => (/* binding */ parseDuration),
/* harmony export */   a: () => (/* binding */ formatDuration)
/* harmony export */ });
/* harmony import */ var _errors_js__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(17);

const UNIT_SECONDS = { h: 3600, m: 60, s: 1 };
const DURATION = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
/** Parses `900s`, `15m`, `1h`, `1h30m` into seconds; `name` labels the error. */
function parseDuration(name, text, maxSeconds) {
    const value = text.trim();
    const match = DURATION.exec(value);
    if (!value || !match) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`${name} "${text}" is not a duration; use e.g. 900s, 15m, 1h, 1h30m`);
    }
    const [, h, m, s] = match;
    const seconds = Number(h ?? 0) * UNIT_SECONDS.h + Number(m ?? 0) * UNIT_SECONDS.m + Number(s ?? 0);
    if (seconds <= 0)
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`${name} "${text}" must be longer than zero`);
    if (seconds > maxSeconds) {
        throw new _errors_js__WEBPACK_IMPORTED_MODULE_0__/* .InputError */ .dz(`${name} "${text}" is longer than the maximum ${formatDuration(maxSeconds)}`);
    }
    return seconds;
}
/** Formats seconds the way parseDuration reads them (5400 -> "1h30m"). */
function formatDuration(seconds) {
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || seconds === 0 ? `${s}s` : ''}`;
}


/***/ }),

/***/ 17:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   cl: () => (/* binding */ registerSecret),
/* harmony export */   dz: () => (/* binding */ InputError),
/* harmony export */   eQ: () => (/* binding */ withContext),
/* harmony export */   gJ: () => (/* binding */ errorMessage)
/* harmony export */ });
/* unused harmony export redact */
/** Bad input or bad usage: reported plainly and, on the CLI, with exit code 2. */
class InputError extends Error {
    name = 'InputError';
}
const secrets = new Set();
/** Remembers a secret so that no error message built later can carry it out. */
function registerSecret(secret) {
    if (secret.length < 4)
        return; // masking "a" would shred every message
    secrets.add(secret);
    secrets.add(encodeURIComponent(secret));
}
/** Replaces every registered secret in a text with ***. */
function redact(text) {
    let out = text;
    // Longest first, so that a URL is redacted whole before the password inside it.
    for (const s of [...secrets].sort((a, b) => b.length - a.length))
        out = out.split(s).join('***');
    return out;
}
/** The message of any thrown value, with a driver's detail and hint, and secrets stripped. */
function errorMessage(err) {
    const text = err instanceof Error ? err.message || err.name : String(err);
    const { detail, hint } = (err ?? {});
    const extra = [detail, hint].filter((part) => typeof part === 'string' && part !== '');
    return redact(extra.length ? `${text} (${extra.join('; ')})` : text);
}
/** Wraps an error with context ("Could not create PostgreSQL user on db:5432: ..."). */
function withContext(context, err) {
    const wrapped = new Error(`${context}: ${errorMessage(err)}`);
    if (err instanceof InputError)
        return new InputError(wrapped.message);
    return wrapped;
}


/***/ }),

/***/ 5888:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   WR: () => (/* binding */ makePassword),
/* harmony export */   nE: () => (/* binding */ NAME_SUFFIX_LENGTH),
/* harmony export */   v4: () => (/* binding */ makeUsername)
/* harmony export */ });
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __nccwpck_require__(7598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__nccwpck_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__);

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789';
/** Room a generated name needs besides the prefix: `_` + 8 hash + `_` + 8 random. */
const NAME_SUFFIX_LENGTH = 18;
/**
 * A user name that says which run made it without containing any claim text:
 * `<prefix>_<hash of run identity>_<random>`, only [a-z0-9_].
 */
function makeUsername(prefix, runKey) {
    const hash = (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.createHash)('sha256').update(runKey).digest('hex').slice(0, 8);
    let random = '';
    for (let i = 0; i < 8; i++)
        random += ALPHABET[(0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.randomInt)(ALPHABET.length)];
    return `${prefix}_${hash}_${random}`;
}
/** A strong URL-safe password: 32 random bytes, base64url (43 characters, 256 bits). */
function makePassword() {
    return (0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.randomBytes)(32).toString('base64url');
}


/***/ }),

/***/ 4266:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   L: () => (/* binding */ retry),
/* harmony export */   T: () => (/* binding */ isNetworkError)
/* harmony export */ });
const realSleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
/**
 * Calls fn until it succeeds, a non-retryable error occurs or attempts run out, sleeping with
 * full jitter (a random time up to base * 2^attempt) so that many jobs do not retry in step.
 */
async function retry(fn, opts) {
    const sleep = opts.sleep ?? realSleep;
    const random = opts.random ?? Math.random;
    const now = opts.now ?? Date.now;
    const started = now();
    for (let attempt = 1;; attempt++) {
        try {
            return await fn(attempt);
        }
        catch (err) {
            if (attempt >= opts.attempts || !opts.retryable(err))
                throw err;
            const delay = Math.floor(random() * Math.min(opts.maxMs, opts.baseMs * 2 ** attempt));
            if (opts.deadlineMs !== undefined && now() + delay - started > opts.deadlineMs)
                throw err;
            await sleep(delay);
        }
    }
}
const NETWORK_CODES = new Set([
    'ECONNREFUSED',
    'ECONNRESET',
    'ETIMEDOUT',
    'EHOSTUNREACH',
    'ENETUNREACH',
    'EAI_AGAIN',
    'EPIPE'
]);
/** True for errors worth another try: the network, not the request, went wrong. */
function isNetworkError(err) {
    const e = err;
    if (!e || typeof e !== 'object')
        return false;
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code))
        return true;
    // Node reports a refused dual-stack connect as an AggregateError of per-address errors.
    if (Array.isArray(e.errors) && e.errors.some(isNetworkError))
        return true;
    return typeof e.message === 'string' && /timeout|terminated unexpectedly/i.test(e.message);
}


/***/ }),

/***/ 9997:
/***/ ((__unused_webpack_module, __webpack_exports__, __nccwpck_require__) => {

/* harmony export */ __nccwpck_require__.d(__webpack_exports__, {
/* harmony export */   o: () => (/* binding */ percentDecoded)
/* harmony export */ });
/**
 * Percent-decodes URL text, or keeps it as written when it is not valid percent-encoding
 * (a password such as `50%off`, which the drivers accept as it stands).
 */
function percentDecoded(text) {
    try {
        return decodeURIComponent(text);
    }
    catch {
        return text;
    }
}


/***/ }),

/***/ 2613:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("assert");

/***/ }),

/***/ 181:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("buffer");

/***/ }),

/***/ 5317:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("child_process");

/***/ }),

/***/ 6982:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("crypto");

/***/ }),

/***/ 2250:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("dns");

/***/ }),

/***/ 4434:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("events");

/***/ }),

/***/ 9896:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("fs");

/***/ }),

/***/ 8611:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("http");

/***/ }),

/***/ 5692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("https");

/***/ }),

/***/ 9278:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("net");

/***/ }),

/***/ 4589:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:assert");

/***/ }),

/***/ 6698:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:async_hooks");

/***/ }),

/***/ 4573:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:buffer");

/***/ }),

/***/ 1421:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:child_process");

/***/ }),

/***/ 7540:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:console");

/***/ }),

/***/ 7598:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:crypto");

/***/ }),

/***/ 3053:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:diagnostics_channel");

/***/ }),

/***/ 610:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:dns");

/***/ }),

/***/ 8474:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:events");

/***/ }),

/***/ 3024:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs");

/***/ }),

/***/ 1455:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:fs/promises");

/***/ }),

/***/ 7067:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http");

/***/ }),

/***/ 2467:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:http2");

/***/ }),

/***/ 4708:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:https");

/***/ }),

/***/ 7030:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:net");

/***/ }),

/***/ 8161:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:os");

/***/ }),

/***/ 6760:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:path");

/***/ }),

/***/ 5881:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:perf_hooks");

/***/ }),

/***/ 1708:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:process");

/***/ }),

/***/ 1792:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:querystring");

/***/ }),

/***/ 7075:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:stream");

/***/ }),

/***/ 1692:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:tls");

/***/ }),

/***/ 3136:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:url");

/***/ }),

/***/ 7975:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util");

/***/ }),

/***/ 3429:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:util/types");

/***/ }),

/***/ 5919:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:worker_threads");

/***/ }),

/***/ 8522:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("node:zlib");

/***/ }),

/***/ 857:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("os");

/***/ }),

/***/ 6928:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("path");

/***/ }),

/***/ 932:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("process");

/***/ }),

/***/ 2203:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("stream");

/***/ }),

/***/ 3193:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("string_decoder");

/***/ }),

/***/ 3557:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("timers");

/***/ }),

/***/ 4756:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("tls");

/***/ }),

/***/ 7016:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("url");

/***/ }),

/***/ 9023:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("util");

/***/ }),

/***/ 8253:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("util/types");

/***/ }),

/***/ 3106:
/***/ ((module) => {

module.exports = __WEBPACK_EXTERNAL_createRequire(import.meta.url)("zlib");

/***/ }),

/***/ 9937:
/***/ ((__unused_webpack___webpack_module__, __webpack_exports__, __nccwpck_require__) => {


// EXPORTS
__nccwpck_require__.d(__webpack_exports__, {
  i: () => (/* binding */ decodeJwt)
});

;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/lib/buffer_utils.js
const buffer_utils_encoder = new TextEncoder(), decoder = new TextDecoder(), buffer_utils_strictDecoder = new TextDecoder("utf-8", { fatal: !0 }), UINT32_RANGE = (/* unused pure expression or super */ null && (2 ** 32));
function concat(...buffers) {
  const size = buffers.reduce((acc, { length }) => acc + length, 0), buf = new Uint8Array(size);
  let i = 0;
  for (const buffer of buffers)
    buf.set(buffer, i), i += buffer.length;
  return buf;
}
function writeUInt32BE(buf, value, offset) {
  if (value < 0 || value >= UINT32_RANGE)
    throw new RangeError(`value must be >= 0 and <= ${UINT32_RANGE - 1}. Received ${value}`);
  buf.set([value >>> 24, value >>> 16, value >>> 8, value & 255], offset);
}
function uint64be(value) {
  const high = Math.floor(value / UINT32_RANGE), low = value % UINT32_RANGE, buf = new Uint8Array(8);
  return writeUInt32BE(buf, high, 0), writeUInt32BE(buf, low, 4), buf;
}
function uint32be(value) {
  const buf = new Uint8Array(4);
  return writeUInt32BE(buf, value), buf;
}
const NON_ASCII = /[^\x00-\x7f]/;
function buffer_utils_encode(string) {
  if (typeof string == "string" && string.length >= 128) {
    if (NON_ASCII.test(string))
      throw new TypeError("non-ASCII string encountered in encode()");
    return buffer_utils_encoder.encode(string);
  }
  const bytes = new Uint8Array(string.length);
  for (let i = 0; i < string.length; i++) {
    const code = string.charCodeAt(i);
    if (code > 127)
      throw new TypeError("non-ASCII string encountered in encode()");
    bytes[i] = code;
  }
  return bytes;
}
function buffer_utils_encodeBase64(input, url = !1) {
  if (Uint8Array.prototype.toBase64)
    return input.toBase64({ alphabet: url ? "base64url" : "base64", omitPadding: url });
  const CHUNK_SIZE = 32768, arr = [];
  for (let i = 0; i < input.length; i += CHUNK_SIZE)
    arr.push(String.fromCharCode.apply(null, input.subarray(i, i + CHUNK_SIZE)));
  const encoded = btoa(arr.join(""));
  return url ? encoded.replace(/=/g, "").replace(/\+/g, "-").replace(/\//g, "_") : encoded;
}
function decodeBase64(encoded, url = !1) {
  if (Uint8Array.fromBase64)
    return Uint8Array.fromBase64(encoded, { alphabet: url ? "base64url" : "base64" });
  if (url) {
    if (encoded.includes("+") || encoded.includes("/"))
      throw new TypeError("Invalid base64url");
    encoded = encoded.replace(/-/g, "+").replace(/_/g, "/");
  }
  const binary = atob(encoded), bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++)
    bytes[i] = binary.charCodeAt(i);
  return bytes;
}
async function digest(algorithm, data) {
  const subtleDigest = `SHA-${algorithm.slice(-3)}`;
  return new Uint8Array(await crypto.subtle.digest(subtleDigest, data));
}


;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/util/base64url.js

const invalid = "The input to be decoded is not correctly encoded.";
function base64url_decode(input) {
  try {
    return decodeBase64(typeof input == "string" ? input : decoder.decode(input), !0);
  } catch (cause) {
    throw new TypeError(invalid, { cause });
  }
}
function base64url_encode(input) {
  return encodeBase64(typeof input == "string" ? encoder.encode(input) : input, !0);
}


;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/lib/validate.js



function assertUint8Array(input, label) {
  if (!(input instanceof Uint8Array))
    throw new TypeError(`${label} must be an instance of Uint8Array`);
}
function isObject(input) {
  if (typeof input != "object" || input === null || Object.prototype.toString.call(input) !== "[object Object]")
    return !1;
  const prototype = Object.getPrototypeOf(input);
  return prototype === null || Object.getPrototypeOf(prototype) === null;
}
function isJwkSet(input) {
  return isObject(input) && Array.isArray(input.keys) && Array.from(input.keys).every(isObject);
}
function isDisjoint(...headers) {
  const parameters = /* @__PURE__ */ new Set();
  for (const header of headers)
    if (header)
      for (const parameter of Object.keys(header)) {
        if (parameters.has(parameter))
          return !1;
        parameters.add(parameter);
      }
  return !0;
}
function assertNotSet(value, name) {
  if (value !== void 0)
    throw new TypeError(`${name} can only be called once`);
}
function decodeBase64url(value, label, ErrorClass) {
  try {
    return decode(value);
  } catch (cause) {
    throw new ErrorClass(`Failed to base64url decode the ${label}`, { cause });
  }
}
function encodeAsciiMember(value, label, ErrorClass) {
  try {
    return encode(value);
  } catch (cause) {
    throw new ErrorClass(`The ${label} is not a valid base64url string`, { cause });
  }
}
function parseJoseHeader(encodedProtectedHeader, ErrorClass, message) {
  let parsed;
  try {
    parsed = JSON.parse(strictDecoder.decode(decode(encodedProtectedHeader)));
  } catch (cause) {
    throw new ErrorClass(message, { cause });
  }
  if (!isObject(parsed))
    throw new ErrorClass(message);
  return parsed;
}
const JWS_RECOGNIZED = { __proto__: null, b64: !0 }, JWE_RECOGNIZED = { __proto__: null };
function validateAlgorithms(option, algorithms) {
  if (algorithms !== void 0 && (!Array.isArray(algorithms) || algorithms.some((s) => typeof s != "string")))
    throw new TypeError(`"${option}" option must be an array of strings`);
  return algorithms === void 0 ? void 0 : new Set(algorithms);
}
function validateCritDuplicates(Err, protectedHeader) {
  const { crit } = protectedHeader ?? {};
  if (Array.isArray(crit) && new Set(crit).size !== crit.length)
    throw new Err('"crit" (Critical) Header Parameter MUST NOT contain duplicate values');
}
function validateCrit(Err, recognizedDefault, recognizedOption, protectedHeader, joseHeader) {
  if (joseHeader.crit !== void 0 && protectedHeader?.crit === void 0)
    throw new Err('"crit" (Critical) Header Parameter MUST be integrity protected');
  if (!protectedHeader || protectedHeader.crit === void 0)
    return [];
  if (!Array.isArray(protectedHeader.crit) || protectedHeader.crit.length === 0 || protectedHeader.crit.some((input) => typeof input != "string" || input.length === 0))
    throw new Err('"crit" (Critical) Header Parameter MUST be an array of non-empty strings when present');
  const recognized = recognizedOption === void 0 ? recognizedDefault : { __proto__: null, ...recognizedOption, ...recognizedDefault };
  for (const parameter of protectedHeader.crit) {
    if (!(parameter in recognized))
      throw new JOSENotSupported(`Extension Header Parameter "${parameter}" is not recognized`);
    if (!Object.hasOwn(joseHeader, parameter) || joseHeader[parameter] === void 0)
      throw new Err(`Extension Header Parameter "${parameter}" is missing`);
    if (recognized[parameter] && (!Object.hasOwn(protectedHeader, parameter) || protectedHeader[parameter] === void 0))
      throw new Err(`Extension Header Parameter "${parameter}" MUST be integrity protected`);
  }
  return protectedHeader.crit;
}
function validateB64(protectedHeader, extensions) {
  if (extensions.includes("b64")) {
    const b64 = protectedHeader.b64;
    if (typeof b64 != "boolean")
      throw new JWSInvalid('The "b64" (base64url-encode payload) Header Parameter must be a boolean');
    return b64;
  }
  return !0;
}
function serializeJoseHeader(Err, header) {
  let serialized, parsed;
  try {
    serialized = JSON.stringify(header), parsed = JSON.parse(serialized);
  } catch (cause) {
    throw new Err("JOSE Header is not valid JSON", { cause });
  }
  if (!isObject(parsed))
    throw new Err("JOSE Header is not a JSON object");
  return [parsed, serialized];
}


;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/util/errors.js
class JOSEError extends Error {
  static code = "ERR_JOSE_GENERIC";
  code = "ERR_JOSE_GENERIC";
  constructor(message, options) {
    super(message, options), this.name = this.constructor.name, Error.captureStackTrace?.(this, this.constructor);
  }
}
class JWTClaimValidationFailed extends JOSEError {
  static code = "ERR_JWT_CLAIM_VALIDATION_FAILED";
  code = "ERR_JWT_CLAIM_VALIDATION_FAILED";
  claim;
  reason;
  payload;
  constructor(message, payload, claim = "unspecified", reason = "unspecified") {
    super(message, { cause: { claim, reason, payload } }), this.claim = claim, this.reason = reason, this.payload = payload;
  }
}
class JWTExpired extends JOSEError {
  static code = "ERR_JWT_EXPIRED";
  code = "ERR_JWT_EXPIRED";
  claim;
  reason;
  payload;
  constructor(message, payload, claim = "unspecified", reason = "unspecified") {
    super(message, { cause: { claim, reason, payload } }), this.claim = claim, this.reason = reason, this.payload = payload;
  }
}
class JOSEAlgNotAllowed extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JOSE_ALG_NOT_ALLOWED"));
  code = "ERR_JOSE_ALG_NOT_ALLOWED";
}
class errors_JOSENotSupported extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JOSE_NOT_SUPPORTED"));
  code = "ERR_JOSE_NOT_SUPPORTED";
}
class JWEDecryptionFailed extends JOSEError {
  static code = "ERR_JWE_DECRYPTION_FAILED";
  code = "ERR_JWE_DECRYPTION_FAILED";
  constructor(message = "decryption operation failed", options) {
    super(message, options);
  }
}
class JWEInvalid extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JWE_INVALID"));
  code = "ERR_JWE_INVALID";
}
class errors_JWSInvalid extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JWS_INVALID"));
  code = "ERR_JWS_INVALID";
}
class JWTInvalid extends JOSEError {
  static code = "ERR_JWT_INVALID";
  code = "ERR_JWT_INVALID";
}
class JWKInvalid extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JWK_INVALID"));
  code = "ERR_JWK_INVALID";
}
class JWKSInvalid extends (/* unused pure expression or super */ null && (JOSEError)) {
  static code = (/* unused pure expression or super */ null && ("ERR_JWKS_INVALID"));
  code = "ERR_JWKS_INVALID";
}
class JWKSNoMatchingKey extends JOSEError {
  static code = "ERR_JWKS_NO_MATCHING_KEY";
  code = "ERR_JWKS_NO_MATCHING_KEY";
  constructor(message = "no applicable key found in the JSON Web Key Set", options) {
    super(message, options);
  }
}
class JWKSMultipleMatchingKeys extends JOSEError {
  [Symbol.asyncIterator] = async function* () {
  };
  static code = "ERR_JWKS_MULTIPLE_MATCHING_KEYS";
  code = "ERR_JWKS_MULTIPLE_MATCHING_KEYS";
  constructor(message = "multiple matching keys found in the JSON Web Key Set", options) {
    super(message, options);
  }
}
class JWKSTimeout extends JOSEError {
  static code = "ERR_JWKS_TIMEOUT";
  code = "ERR_JWKS_TIMEOUT";
  constructor(message = "request timed out", options) {
    super(message, options);
  }
}
class JWSSignatureVerificationFailed extends JOSEError {
  static code = "ERR_JWS_SIGNATURE_VERIFICATION_FAILED";
  code = "ERR_JWS_SIGNATURE_VERIFICATION_FAILED";
  constructor(message = "signature verification failed", options) {
    super(message, options);
  }
}


;// CONCATENATED MODULE: ./node_modules/jose/dist/webapi/util/decode_jwt.js




function decodeJwt(jwt) {
  if (typeof jwt != "string")
    throw new JWTInvalid("JWTs must use Compact JWS serialization, JWT must be a string");
  const { 1: encodedPayload, length } = jwt.split(".");
  if (length === 5)
    throw new JWTInvalid("Only JWTs using Compact JWS serialization can be decoded");
  if (length !== 3)
    throw new JWTInvalid("Invalid JWT");
  if (!encodedPayload)
    throw new JWTInvalid("JWTs must contain a payload");
  let claimsSetBytes;
  try {
    claimsSetBytes = base64url_decode(encodedPayload);
  } catch (cause) {
    throw new JWTInvalid("Failed to base64url decode the payload", { cause });
  }
  let claimsSet;
  try {
    claimsSet = JSON.parse(buffer_utils_strictDecoder.decode(claimsSetBytes));
  } catch (cause) {
    throw new JWTInvalid("Failed to parse the decoded payload as JSON", { cause });
  }
  if (!isObject(claimsSet))
    throw new JWTInvalid("Invalid JWT Claims Set");
  return claimsSet;
}



/***/ })

/******/ });
/************************************************************************/
/******/ // The module cache
/******/ var __webpack_module_cache__ = {};
/******/ 
/******/ // The require function
/******/ function __nccwpck_require__(moduleId) {
/******/ 	// Check if module is in cache
/******/ 	var cachedModule = __webpack_module_cache__[moduleId];
/******/ 	if (cachedModule !== undefined) {
/******/ 		return cachedModule.exports;
/******/ 	}
/******/ 	// Create a new module (and put it into the cache)
/******/ 	var module = __webpack_module_cache__[moduleId] = {
/******/ 		// no module.id needed
/******/ 		// no module.loaded needed
/******/ 		exports: {}
/******/ 	};
/******/ 
/******/ 	// Execute the module function
/******/ 	var threw = true;
/******/ 	try {
/******/ 		__webpack_modules__[moduleId].call(module.exports, module, module.exports, __nccwpck_require__);
/******/ 		threw = false;
/******/ 	} finally {
/******/ 		if(threw) delete __webpack_module_cache__[moduleId];
/******/ 	}
/******/ 
/******/ 	// Return the exports of the module
/******/ 	return module.exports;
/******/ }
/******/ 
/******/ // expose the modules object (__webpack_modules__)
/******/ __nccwpck_require__.m = __webpack_modules__;
/******/ 
/************************************************************************/
/******/ /* webpack/runtime/asset-relocator-loader */
/******/ if (typeof __nccwpck_require__ !== 'undefined') __nccwpck_require__.ab = decodeURIComponent(new URL('.', import.meta.url).pathname).slice(import.meta.url.match(/^file:\/\/\/\w:/) ? 1 : 0, -1) + "/";
/******/ 
/******/ /* webpack/runtime/async module */
/******/ (() => {
/******/ 	var webpackQueues = typeof Symbol === "function" ? Symbol("webpack queues") : "__webpack_queues__";
/******/ 	var webpackExports = typeof Symbol === "function" ? Symbol("webpack exports") : "__webpack_exports__";
/******/ 	var webpackError = typeof Symbol === "function" ? Symbol("webpack error") : "__webpack_error__";
/******/ 	var resolveQueue = (queue) => {
/******/ 		if(queue && queue.d < 1) {
/******/ 			queue.d = 1;
/******/ 			queue.forEach((fn) => (fn.r--));
/******/ 			queue.forEach((fn) => (fn.r-- ? fn.r++ : fn()));
/******/ 		}
/******/ 	}
/******/ 	var wrapDeps = (deps) => (deps.map((dep) => {
/******/ 		if(dep !== null && typeof dep === "object") {
/******/ 			if(dep[webpackQueues]) return dep;
/******/ 			if(dep.then) {
/******/ 				var queue = [];
/******/ 				queue.d = 0;
/******/ 				dep.then((r) => {
/******/ 					obj[webpackExports] = r;
/******/ 					resolveQueue(queue);
/******/ 				}, (e) => {
/******/ 					obj[webpackError] = e;
/******/ 					resolveQueue(queue);
/******/ 				});
/******/ 				var obj = {};
/******/ 				obj[webpackQueues] = (fn) => (fn(queue));
/******/ 				return obj;
/******/ 			}
/******/ 		}
/******/ 		var ret = {};
/******/ 		ret[webpackQueues] = x => {};
/******/ 		ret[webpackExports] = dep;
/******/ 		return ret;
/******/ 	}));
/******/ 	__nccwpck_require__.a = (module, body, hasAwait) => {
/******/ 		var queue;
/******/ 		hasAwait && ((queue = []).d = -1);
/******/ 		var depQueues = new Set();
/******/ 		var exports = module.exports;
/******/ 		var currentDeps;
/******/ 		var outerResolve;
/******/ 		var reject;
/******/ 		var promise = new Promise((resolve, rej) => {
/******/ 			reject = rej;
/******/ 			outerResolve = resolve;
/******/ 		});
/******/ 		promise[webpackExports] = exports;
/******/ 		promise[webpackQueues] = (fn) => (queue && fn(queue), depQueues.forEach(fn), promise["catch"](x => {}));
/******/ 		module.exports = promise;
/******/ 		body((deps) => {
/******/ 			currentDeps = wrapDeps(deps);
/******/ 			var fn;
/******/ 			var getResult = () => (currentDeps.map((d) => {
/******/ 				if(d[webpackError]) throw d[webpackError];
/******/ 				return d[webpackExports];
/******/ 			}))
/******/ 			var promise = new Promise((resolve) => {
/******/ 				fn = () => (resolve(getResult));
/******/ 				fn.r = 0;
/******/ 				var fnQueue = (q) => (q !== queue && !depQueues.has(q) && (depQueues.add(q), q && !q.d && (fn.r++, q.push(fn))));
/******/ 				currentDeps.map((dep) => (dep[webpackQueues](fnQueue)));
/******/ 			});
/******/ 			return fn.r ? promise : getResult();
/******/ 		}, (err) => ((err ? reject(promise[webpackError] = err) : outerResolve(exports)), resolveQueue(queue)));
/******/ 		queue && queue.d < 0 && (queue.d = 0);
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/compat get default export */
/******/ (() => {
/******/ 	// getDefaultExport function for compatibility with non-harmony modules
/******/ 	__nccwpck_require__.n = (module) => {
/******/ 		var getter = module && module.__esModule ?
/******/ 			() => (module['default']) :
/******/ 			() => (module);
/******/ 		__nccwpck_require__.d(getter, { a: getter });
/******/ 		return getter;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/create fake namespace object */
/******/ (() => {
/******/ 	var getProto = Object.getPrototypeOf ? (obj) => (Object.getPrototypeOf(obj)) : (obj) => (obj.__proto__);
/******/ 	var leafPrototypes;
/******/ 	// create a fake namespace object
/******/ 	// mode & 1: value is a module id, require it
/******/ 	// mode & 2: merge all properties of value into the ns
/******/ 	// mode & 4: return value when already ns object
/******/ 	// mode & 16: return value when it's Promise-like
/******/ 	// mode & 8|1: behave like require
/******/ 	__nccwpck_require__.t = function(value, mode) {
/******/ 		if(mode & 1) value = this(value);
/******/ 		if(mode & 8) return value;
/******/ 		if(typeof value === 'object' && value) {
/******/ 			if((mode & 4) && value.__esModule) return value;
/******/ 			if((mode & 16) && typeof value.then === 'function') return value;
/******/ 		}
/******/ 		var ns = Object.create(null);
/******/ 		__nccwpck_require__.r(ns);
/******/ 		var def = {};
/******/ 		leafPrototypes = leafPrototypes || [null, getProto({}), getProto([]), getProto(getProto)];
/******/ 		for(var current = mode & 2 && value; typeof current == 'object' && !~leafPrototypes.indexOf(current); current = getProto(current)) {
/******/ 			Object.getOwnPropertyNames(current).forEach((key) => (def[key] = () => (value[key])));
/******/ 		}
/******/ 		def['default'] = () => (value);
/******/ 		__nccwpck_require__.d(ns, def);
/******/ 		return ns;
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/define property getters */
/******/ (() => {
/******/ 	// define getter functions for harmony exports
/******/ 	__nccwpck_require__.d = (exports, definition) => {
/******/ 		for(var key in definition) {
/******/ 			if(__nccwpck_require__.o(definition, key) && !__nccwpck_require__.o(exports, key)) {
/******/ 				Object.defineProperty(exports, key, { enumerable: true, get: definition[key] });
/******/ 			}
/******/ 		}
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/ensure chunk */
/******/ (() => {
/******/ 	__nccwpck_require__.f = {};
/******/ 	// This file contains only the entry chunk.
/******/ 	// The chunk loading function for additional chunks
/******/ 	__nccwpck_require__.e = (chunkId) => {
/******/ 		return Promise.all(Object.keys(__nccwpck_require__.f).reduce((promises, key) => {
/******/ 			__nccwpck_require__.f[key](chunkId, promises);
/******/ 			return promises;
/******/ 		}, []));
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/get javascript chunk filename */
/******/ (() => {
/******/ 	// This function allow to reference async chunks
/******/ 	__nccwpck_require__.u = (chunkId) => {
/******/ 		// return url for filenames based on template
/******/ 		return "" + chunkId + ".index.js";
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/hasOwnProperty shorthand */
/******/ (() => {
/******/ 	__nccwpck_require__.o = (obj, prop) => (Object.prototype.hasOwnProperty.call(obj, prop))
/******/ })();
/******/ 
/******/ /* webpack/runtime/make namespace object */
/******/ (() => {
/******/ 	// define __esModule on exports
/******/ 	__nccwpck_require__.r = (exports) => {
/******/ 		if(typeof Symbol !== 'undefined' && Symbol.toStringTag) {
/******/ 			Object.defineProperty(exports, Symbol.toStringTag, { value: 'Module' });
/******/ 		}
/******/ 		Object.defineProperty(exports, '__esModule', { value: true });
/******/ 	};
/******/ })();
/******/ 
/******/ /* webpack/runtime/import chunk loading */
/******/ (() => {
/******/ 	// no baseURI
/******/ 	
/******/ 	// object to store loaded and loading chunks
/******/ 	// undefined = chunk not loaded, null = chunk preloaded/prefetched
/******/ 	// [resolve, Promise] = chunk loading, 0 = chunk loaded
/******/ 	var installedChunks = {
/******/ 		792: 0
/******/ 	};
/******/ 	
/******/ 	var installChunk = (data) => {
/******/ 		var {ids, modules, runtime} = data;
/******/ 		// add "modules" to the modules object,
/******/ 		// then flag all "ids" as loaded and fire callback
/******/ 		var moduleId, chunkId, i = 0;
/******/ 		for(moduleId in modules) {
/******/ 			if(__nccwpck_require__.o(modules, moduleId)) {
/******/ 				__nccwpck_require__.m[moduleId] = modules[moduleId];
/******/ 			}
/******/ 		}
/******/ 		if(runtime) runtime(__nccwpck_require__);
/******/ 		for(;i < ids.length; i++) {
/******/ 			chunkId = ids[i];
/******/ 			if(__nccwpck_require__.o(installedChunks, chunkId) && installedChunks[chunkId]) {
/******/ 				installedChunks[chunkId][0]();
/******/ 			}
/******/ 			installedChunks[ids[i]] = 0;
/******/ 		}
/******/ 	
/******/ 	}
/******/ 	
/******/ 	__nccwpck_require__.f.j = (chunkId, promises) => {
/******/ 			// import() chunk loading for javascript
/******/ 			var installedChunkData = __nccwpck_require__.o(installedChunks, chunkId) ? installedChunks[chunkId] : undefined;
/******/ 			if(installedChunkData !== 0) { // 0 means "already installed".
/******/ 	
/******/ 				// a Promise means "currently loading".
/******/ 				if(installedChunkData) {
/******/ 					promises.push(installedChunkData[1]);
/******/ 				} else {
/******/ 					if(true) { // all chunks have JS
/******/ 						// setup Promise in chunk cache
/******/ 						var promise = import("./" + __nccwpck_require__.u(chunkId)).then(installChunk, (e) => {
/******/ 							if(installedChunks[chunkId] !== 0) installedChunks[chunkId] = undefined;
/******/ 							throw e;
/******/ 						});
/******/ 						var promise = Promise.race([promise, new Promise((resolve) => (installedChunkData = installedChunks[chunkId] = [resolve]))])
/******/ 						promises.push(installedChunkData[1] = promise);
/******/ 					}
/******/ 				}
/******/ 			}
/******/ 	};
/******/ 	
/******/ 	// no prefetching
/******/ 	
/******/ 	// no preloaded
/******/ 	
/******/ 	// no external install chunk
/******/ 	
/******/ 	// no on chunks loaded
/******/ })();
/******/ 
/************************************************************************/
/******/ 
/******/ // startup
/******/ // Load entry module and return exports
/******/ // This entry module used 'module' so it can't be inlined
/******/ var __webpack_exports__ = __nccwpck_require__(1730);
/******/ __webpack_exports__ = await __webpack_exports__;
/******/ 

//# sourceMappingURL=index.js.map