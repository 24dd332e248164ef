export const id = 198;
export const ids = [198];
export const modules = {

/***/ 9198:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   revokeLease: () => (/* binding */ revokeLease)
/* harmony export */ });
/* unused harmony exports BrokerError, requestLease */
/* harmony import */ var _util_retry_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(4266);

/** A broker's refusal, with its status and error code. */
class BrokerError extends Error {
    status;
    code;
    constructor(status, code, message) {
        super(message);
        this.status = status;
        this.code = code;
    }
}
// A broker that is down or whose database is down may be back in a moment; a refusal will not.
const retryable = (err) => (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_0__/* .isNetworkError */ .T)(err) ||
    (err instanceof BrokerError && err.status >= 500) ||
    err?.name === 'TimeoutError';
async function call(url, init, token) {
    const response = await fetch(url, {
        ...init,
        headers: {
            ...init.headers,
            authorization: `Bearer ${token}`,
            'content-type': 'application/json'
        },
        signal: AbortSignal.timeout(30_000)
    });
    if (response.ok)
        return response;
    const body = (await response.json().catch(() => ({})));
    throw new BrokerError(response.status, body.error ?? 'error', `the broker answered ${response.status} ${body.error ?? ''}: ${body.message ?? response.statusText}`);
}
/** Asks a broker for a user, with a fresh OIDC token for every attempt. */
async function requestLease(brokerUrl, request, token) {
    return retry(async () => {
        const response = await call(`${brokerUrl}/v1/credentials`, { method: 'POST', body: JSON.stringify(request) }, await token());
        return (await response.json());
    }, { attempts: 3, baseMs: 500, maxMs: 4000, deadlineMs: 60_000, retryable });
}
/** Asks a broker to revoke a lease; a lease already gone is not an error. */
async function revokeLease(brokerUrl, leaseId, token) {
    await (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_0__/* .retry */ .L)(async () => {
        await call(`${brokerUrl}/v1/credentials/${encodeURIComponent(leaseId)}`, { method: 'DELETE' }, await token()).catch((err) => {
            if (err instanceof BrokerError && err.status === 404)
                return;
            throw err;
        });
    }, { attempts: 3, baseMs: 500, maxMs: 4000, deadlineMs: 60_000, retryable });
}


/***/ })

};

//# sourceMappingURL=198.index.js.map