export const id = 371;
export const ids = [371];
export const modules = {

/***/ 4371:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   postgresProvider: () => (/* binding */ postgresProvider)
/* harmony export */ });
/* harmony import */ var pg__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3849);
/* harmony import */ var _util_errors_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(17);
/* harmony import */ var _util_retry_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(4266);
/* harmony import */ var _credential_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(8261);
/* harmony import */ var _types_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(2695);





const { Client, escapeIdentifier: id, escapeLiteral: lit } = pg__WEBPACK_IMPORTED_MODULE_0__/* ["default"] */ .Ay;
// SQLSTATE 42704 undefined_object: the role is already gone.
const ROLE_GONE = '42704';
// SQLSTATE 42501 insufficient_privilege.
const NO_PRIVILEGE = '42501';
// Two revokers of one role (post step and sweep, or two sweeps) collide on its catalog row;
// the next attempt finds the role gone or finishes the job.
const isConcurrentUpdate = (err) => /tuple concurrently (updated|deleted)/.test(err?.message ?? '') ||
    ['40001', '40P01'].includes(err?.code ?? '');
/** A PostgreSQL provider bound to one admin URL. */
function postgresProvider(admin, connectTimeoutMs) {
    const host = admin.url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(admin.url.port || 5432);
    const where = `${host}:${port}`;
    const sslmode = admin.url.searchParams.get('sslmode');
    async function withClient(fn) {
        // Only the connect is retried: nothing has been sent, so nothing can be done twice.
        const client = await (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_2__/* .retry */ .L)(async () => {
            const c = new Client({
                connectionString: admin.url.href,
                connectionTimeoutMillis: connectTimeoutMs,
                application_name: 'ephemeral-credentials'
            });
            c.on('error', () => undefined); // a dropped idle connection must not crash the process
            try {
                await c.connect();
                return c;
            }
            catch (err) {
                await c.end().catch(() => undefined);
                throw err;
            }
        }, { attempts: 3, baseMs: 200, maxMs: 2000, retryable: _util_retry_js__WEBPACK_IMPORTED_MODULE_2__/* .isNetworkError */ .T });
        try {
            return await fn(client);
        }
        finally {
            await client.end().catch(() => undefined);
        }
    }
    /**
     * Revokers of one role (a post step and sweeps) take turns under an advisory lock; the lock is
     * per database, so revokers that connect to different databases fall back on retrying.
     */
    async function revokeWith(client, username, allow) {
        const key = `ephemeral-credentials:${username}`;
        try {
            return await (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_2__/* .retry */ .L)(() => revokeOnce(client, username, key, allow), {
                attempts: 4,
                baseMs: 50,
                maxMs: 500,
                retryable: isConcurrentUpdate
            });
        }
        finally {
            await client.query('SELECT pg_advisory_unlock_all()').catch(() => undefined);
        }
    }
    async function revokeOnce(client, username, key, allow) {
        const found = await client.query(`SELECT shobj_description(oid, 'pg_authid') AS marker
         FROM pg_roles, (SELECT pg_advisory_lock(hashtextextended($2, 0))) AS locked
        WHERE rolname = $1`, [username, key]);
        if (found.rowCount === 0)
            return 'absent';
        const marker = (0,_types_js__WEBPACK_IMPORTED_MODULE_3__/* .decodeMarker */ .rH)(found.rows[0].marker);
        if (!marker) {
            throw new Error(`role "${username}" was not created by ephemeral-credentials; left alone`);
        }
        if (allow && !allow(marker))
            throw new _types_js__WEBPACK_IMPORTED_MODULE_3__/* .NotOwnerError */ .nb(`role "${username}" belongs to another run`);
        const role = id(username);
        // One implicit transaction: end the sessions, hand over what the user owns, drop it.
        const finish = [
            `SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE usename = ${lit(username)}`,
            `REASSIGN OWNED BY ${role} TO CURRENT_USER`,
            `DROP OWNED BY ${role}`,
            `DROP ROLE ${role}`
        ].join(';\n');
        try {
            // Committed on its own first, so no session can start between terminate and drop.
            await client.query(`ALTER ROLE ${role} NOLOGIN`);
            try {
                await client.query(finish);
            }
            catch (err) {
                if (err.code !== NO_PRIVILEGE)
                    throw err;
                // Since PostgreSQL 16 a CREATEROLE admin holds only ADMIN OPTION on the roles it made;
                // joining the role, which is dropped in the same transaction, lets it end the role's
                // sessions and take over what the role owns.
                await client.query(`GRANT ${role} TO CURRENT_USER;\n${finish}`);
            }
            return 'revoked';
        }
        catch (err) {
            if (err.code === ROLE_GONE)
                return 'absent';
            throw err;
        }
    }
    return {
        async issue(req) {
            const role = id(req.username);
            const statements = [
                `CREATE ROLE ${role} LOGIN PASSWORD ${lit(req.password)} VALID UNTIL ${lit(req.expiresAt.toISOString())}`,
                ...(req.roles.length ? [`GRANT ${req.roles.map(id).join(', ')} TO ${role}`] : []),
                `COMMENT ON ROLE ${role} IS ${lit((0,_types_js__WEBPACK_IMPORTED_MODULE_3__/* .encodeMarker */ .$N)(req.marker))}`
            ];
            try {
                // One simple-protocol query is one implicit transaction: all statements or none.
                await withClient((client) => client.query(statements.join(';\n')));
            }
            catch (err) {
                throw (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .withContext */ .eQ)(`Could not create PostgreSQL user on ${where}`, err);
            }
            return (0,_credential_js__WEBPACK_IMPORTED_MODULE_4__/* .credentialFor */ .F)('postgres', { ...req, host, port, sslmode });
        },
        async revoke(username, allow) {
            try {
                return await withClient((client) => revokeWith(client, username, allow));
            }
            catch (err) {
                if (err instanceof _types_js__WEBPACK_IMPORTED_MODULE_3__/* .NotOwnerError */ .nb)
                    throw err;
                throw (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .withContext */ .eQ)(`Could not revoke PostgreSQL user ${username} on ${where}`, err);
            }
        },
        async sweep({ dryRun }) {
            try {
                return await withClient(async (client) => {
                    const { rows } = await client.query(`SELECT rolname, rolvaliduntil < now() AS expired, d.marker
               FROM pg_roles, LATERAL (SELECT shobj_description(oid, 'pg_authid') AS marker) d
              WHERE starts_with(d.marker, $1)`, [_types_js__WEBPACK_IMPORTED_MODULE_3__/* .MARKER_PREFIX */ .Km]);
                    const expired = rows
                        .filter((r) => r.expired ?? pastMarkerExpiry(r.marker))
                        .map((r) => r.rolname)
                        .sort();
                    if (dryRun)
                        return expired;
                    const swept = [];
                    const failed = [];
                    for (const name of expired) {
                        try {
                            // Another sweeper may drop the same role first; "absent" is then not ours to report.
                            if ((await revokeWith(client, name)) === 'revoked')
                                swept.push(name);
                        }
                        catch (err) {
                            failed.push(`${name} (${(0,_util_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .errorMessage */ .gJ)(err)})`); // one stuck role must not shield the rest
                        }
                    }
                    if (failed.length) {
                        throw new Error(`revoked ${swept.length}, but could not revoke ${failed.join('; ')}`);
                    }
                    return swept;
                });
            }
            catch (err) {
                throw (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_1__/* .withContext */ .eQ)(`Could not sweep PostgreSQL users on ${where}`, err);
            }
        }
    };
}
// A marked role whose VALID UNTIL someone cleared still expires by its marker.
function pastMarkerExpiry(text) {
    const marker = (0,_types_js__WEBPACK_IMPORTED_MODULE_3__/* .decodeMarker */ .rH)(text);
    return marker ? Date.parse(marker.expires) < Date.now() : false;
}


/***/ }),

/***/ 2695:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   $N: () => (/* binding */ encodeMarker),
/* harmony export */   Km: () => (/* binding */ MARKER_PREFIX),
/* harmony export */   nb: () => (/* binding */ NotOwnerError),
/* harmony export */   rH: () => (/* binding */ decodeMarker)
/* harmony export */ });
/** The caller may not revoke this user: its marker names another run. */
class NotOwnerError extends Error {
    name = 'NotOwnerError';
}
const MARKER_PREFIX = 'ephemeral-credentials:v1 ';
/** Serialises a marker for a comment or attribute. */
function encodeMarker(marker) {
    return MARKER_PREFIX + JSON.stringify(marker);
}
/** Reads a stored marker; undefined when the text is not one of ours. */
function decodeMarker(text) {
    if (!text?.startsWith(MARKER_PREFIX))
        return undefined;
    try {
        const marker = JSON.parse(text.slice(MARKER_PREFIX.length));
        return marker.tool === 'ephemeral-credentials' ? marker : undefined;
    }
    catch {
        return undefined;
    }
}


/***/ })

};

//# sourceMappingURL=371.index.js.map