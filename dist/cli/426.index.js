export const id = 426;
export const ids = [426];
export const modules = {

/***/ 5426:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   STS_MIN_SECONDS: () => (/* binding */ STS_MIN_SECONDS),
/* harmony export */   assumeRole: () => (/* binding */ assumeRole),
/* harmony export */   makeSessionName: () => (/* binding */ makeSessionName)
/* harmony export */ });
/* unused harmony exports STS_MAX_SECONDS, isRetryableStsError, explainStsError */
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(7598);
/* harmony import */ var node_crypto__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_crypto__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _aws_sdk_client_sts__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(1695);
/* harmony import */ var jose__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(7961);
/* harmony import */ var _util_errors_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(17);
/* harmony import */ var _util_duration_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(6518);
/* harmony import */ var _util_retry_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(4266);






/** What STS accepts for DurationSeconds. */
const STS_MIN_SECONDS = 900;
const STS_MAX_SECONDS = 43200;
const NOT_SESSION_CHARS = /[^\w+=,.@-]/g;
/** `<prefix>-<run_id>-<attempt>-<random>`: only characters STS accepts, at most 64. */
function makeSessionName(prefix, identity) {
    const clean = (text, fallback) => (text ?? fallback).replace(NOT_SESSION_CHARS, '_');
    // The attempt is cut too, so that a long one cannot push the name past 64.
    const tail = `-${clean(identity.run_attempt, '1').slice(0, 20)}-${(0,node_crypto__WEBPACK_IMPORTED_MODULE_0__.randomBytes)(4).toString('hex')}`;
    const head = `${prefix}-${clean(identity.run_id, 'local')}`;
    return head.slice(0, 64 - tail.length) + tail;
}
const RETRYABLE = new Set([
    'Throttling',
    'ThrottlingException',
    'RequestLimitExceeded',
    'TooManyRequestsException',
    // STS could not reach the token's issuer: worth another try. The SDK names the error by its
    // modeled shape (IDPCommunicationErrorException), not by the wire code.
    'IDPCommunicationError',
    'IDPCommunicationErrorException',
    'ServiceUnavailable',
    'InternalFailure',
    'TimeoutError',
    'RequestTimeout'
]);
/** Throttling, 5xx and network failures; never access denied or a bad request. */
function isRetryableStsError(err) {
    if ((0,_util_retry_js__WEBPACK_IMPORTED_MODULE_3__/* .isNetworkError */ .T)(err))
        return true;
    const e = err;
    if (e?.name && RETRYABLE.has(e.name))
        return true;
    const status = e?.$metadata?.httpStatusCode ?? 0;
    return status === 429 || status >= 500;
}
/** Turns an STS refusal into a message that says what to check. */
function explainStsError(err, settings, subject) {
    const name = err?.name ?? '';
    const reason = (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .errorMessage */ .gJ)(err);
    if (name === 'AccessDenied' || name === 'AccessDeniedException') {
        return new Error(`STS refused to let this job assume ${settings.roleArn}: ${reason}. Usual causes: the role's trust ` +
            `policy does not allow this token's subject${subject ? ` "${subject}"` : ''} (its ...:sub condition), ` +
            `its ...:aud condition is not "${settings.audience}", or the account has no IAM OIDC identity provider ` +
            "for the token's issuer. A job without `permissions: id-token: write` has no token at all.");
    }
    if (/MaxSessionDuration/i.test(reason)) {
        return new Error(`ttl ${(0,_util_duration_js__WEBPACK_IMPORTED_MODULE_2__/* .formatDuration */ .a)(Math.max(settings.ttlSeconds, STS_MIN_SECONDS))} is longer than the maximum session duration ` +
            `of ${settings.roleArn}; lower ttl or raise the role's MaxSessionDuration (STS: ${reason})`);
    }
    if (/^(InvalidIdentityToken|IDPRejectedClaim|ExpiredToken)/.test(name)) {
        return new Error(`STS did not accept the job's OIDC token (${reason}); check the account's IAM OIDC identity provider ` +
            `for this issuer and that its audience list holds "${settings.audience}"`);
    }
    return new Error(`Could not assume ${settings.roleArn}: ${reason}`);
}
/**
 * AssumeRoleWithWebIdentity, retried on throttling, 5xx and network errors with full jitter and a
 * fresh token for each attempt, within a bounded total time.
 */
async function assumeRole(settings, sessionName, token, retryOptions = {}, client = new _aws_sdk_client_sts__WEBPACK_IMPORTED_MODULE_4__/* .STSClient */ .iM({
    region: settings.region,
    ...(settings.stsEndpoint ? { endpoint: settings.stsEndpoint } : {}),
    maxAttempts: 1 // the retries are ours, so that each one carries a fresh token
})) {
    let subject;
    const response = await (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_3__/* .retry */ .L)(async () => {
        const webIdentityToken = await token();
        subject = readSubject(webIdentityToken);
        return client.send(new _aws_sdk_client_sts__WEBPACK_IMPORTED_MODULE_4__/* .AssumeRoleWithWebIdentityCommand */ .WH({
            RoleArn: settings.roleArn,
            RoleSessionName: sessionName,
            WebIdentityToken: webIdentityToken,
            DurationSeconds: Math.min(Math.max(settings.ttlSeconds, STS_MIN_SECONDS), STS_MAX_SECONDS),
            ...(settings.sessionPolicy ? { Policy: settings.sessionPolicy } : {}),
            ...(settings.sessionPolicyArns.length
                ? { PolicyArns: settings.sessionPolicyArns.map((arn) => ({ arn })) }
                : {})
        }));
    }, {
        attempts: 5,
        baseMs: 500,
        maxMs: 5000,
        deadlineMs: 30_000,
        retryable: isRetryableStsError,
        ...retryOptions
    }).catch((err) => {
        throw explainStsError(err, settings, subject);
    });
    const { Credentials: c, AssumedRoleUser: user } = response;
    if (!c?.AccessKeyId || !c.SecretAccessKey || !c.SessionToken || !c.Expiration || !user?.Arn) {
        throw new Error(`STS answered without credentials for ${settings.roleArn}`);
    }
    return {
        accessKeyId: c.AccessKeyId,
        secretAccessKey: c.SecretAccessKey,
        sessionToken: c.SessionToken,
        expiresAt: c.Expiration,
        assumedRoleArn: user.Arn,
        // arn:aws:sts::<account>:assumed-role/<role>/<session>: no extra call to learn the account.
        accountId: user.Arn.split(':')[4] ?? ''
    };
}
// The subject names the run in an access-denied message; STS verifies the token, not us.
function readSubject(token) {
    try {
        const { sub } = (0,jose__WEBPACK_IMPORTED_MODULE_5__/* .decodeJwt */ .i)(token);
        return sub;
    }
    catch {
        return undefined;
    }
}


/***/ })

};

//# sourceMappingURL=426.index.js.map