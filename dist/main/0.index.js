export const id = 0;
export const ids = [0];
export const modules = {

/***/ 1000:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   mysqlProvider: () => (/* binding */ mysqlProvider)
/* harmony export */ });
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var mysql2_promise__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(7588);
/* harmony import */ var _util_errors_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(17);
/* harmony import */ var _util_retry_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(4266);
/* harmony import */ var _util_text_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(9997);
/* harmony import */ var _credential_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(8261);
/* harmony import */ var _types_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(2695);







const { escape: lit, escapeId: id } = mysql2_promise__WEBPACK_IMPORTED_MODULE_1__;
// Our own schema: the bookkeeping table that proves we made a user, and the expiry events.
const SCHEMA = 'ephemeral_credentials';
const TABLE = `${id(SCHEMA)}.${id('users')}`;
const UNKNOWN_THREAD = 1094; // ER_NO_SUCH_THREAD: the connection ended before we killed it
const NO_SUCH_SCHEMA = [1049, 1146]; // ER_BAD_DB_ERROR, ER_NO_SUCH_TABLE: nothing made yet
const NO_PRIVILEGE = [1044, 1142, 1227]; // ER_DBACCESS_DENIED, ER_TABLEACCESS_DENIED, ER_SPECIFIC_ACCESS_DENIED
/** A MySQL 8 / MariaDB 10.6+ provider bound to one admin URL; `userHost` is the account's host pattern. */
function mysqlProvider(admin, connectTimeoutMs, userHost = '%') {
    const host = admin.url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(admin.url.port || 3306);
    const where = `${host}:${port}`;
    const ssl = tlsOptions(admin.url.searchParams);
    async function withConnection(fn) {
        const connection = await (0,_util_retry_js__WEBPACK_IMPORTED_MODULE_3__/* .retry */ .L)(() => mysql2_promise__WEBPACK_IMPORTED_MODULE_1__.createConnection({
            host,
            port,
            user: (0,_util_text_js__WEBPACK_IMPORTED_MODULE_4__/* .percentDecoded */ .o)(admin.url.username),
            password: (0,_util_text_js__WEBPACK_IMPORTED_MODULE_4__/* .percentDecoded */ .o)(admin.url.password),
            connectTimeout: connectTimeoutMs,
            // Several of our own statements go in one round trip; every value in them is escaped.
            multipleStatements: true,
            ...(ssl ? { ssl } : {})
        }), { attempts: 3, baseMs: 200, maxMs: 2000, retryable: _util_retry_js__WEBPACK_IMPORTED_MODULE_3__/* .isNetworkError */ .T });
        connection.on('error', () => undefined);
        try {
            // UTC, so that event times and the bookkeeping table mean what they say.
            const [rows] = await connection.query(`SET time_zone = '+00:00'; SELECT VERSION() AS version, @@event_scheduler AS scheduler`);
            const info = rows[1][0];
            const server = {
                mariadb: /mariadb/i.test(String(info.version)),
                scheduler: String(info.scheduler) === 'ON'
            };
            return await fn(connection, server);
        }
        finally {
            await connection.end().catch(() => connection.destroy());
        }
    }
    const account = (user, hostPattern) => `${lit(user)}@${lit(hostPattern)}`;
    const eventName = (user) => `${id(SCHEMA)}.${id(`expire_${user}`)}`;
    async function killSessions(c, user) {
        const [rows] = await c.query('SELECT id FROM information_schema.processlist WHERE user = ? AND id <> CONNECTION_ID()', [user]);
        for (const row of rows) {
            await c.query(`KILL CONNECTION ${Number(row.id)}`).catch((err) => {
                if (err.errno !== UNKNOWN_THREAD)
                    throw err;
            });
        }
    }
    /** Revokes under a server-wide named lock, so two revokers (post step and sweep) take turns. */
    async function revokeWith(c, user, allow) {
        const lock = lit(`${SCHEMA}.${user}`);
        const [[got]] = await c.query(`SELECT GET_LOCK(${lock}, 30) AS got`);
        if (Number(got?.got) !== 1)
            throw new Error(`another revoke of ${user} has held its lock for 30 seconds`);
        try {
            return await revokeLocked(c, user, allow);
        }
        finally {
            await c.query(`DO RELEASE_LOCK(${lock})`);
        }
    }
    async function revokeLocked(c, user, allow) {
        const [rows] = await c
            .query(`SELECT host, marker FROM ${TABLE} WHERE user = ?; SELECT Host AS host FROM mysql.user WHERE User = ?`, [user, user])
            .catch((err) => {
            if (!NO_SUCH_SCHEMA.includes(err.errno ?? 0))
                throw err;
            return [[[], []]];
        });
        const [booked, accounts] = [rows[0] ?? [], rows[1] ?? []];
        const ours = booked.find((row) => (0,_types_js__WEBPACK_IMPORTED_MODULE_5__/* .decodeMarker */ .rH)(String(row.marker)));
        if (!ours) {
            if (accounts.length)
                throw new Error(`user ${user} was not created by ephemeral-credentials; left alone`);
            return 'absent';
        }
        if (allow && !allow((0,_types_js__WEBPACK_IMPORTED_MODULE_5__/* .decodeMarker */ .rH)(String(ours.marker)))) {
            throw new _types_js__WEBPACK_IMPORTED_MODULE_5__/* .NotOwnerError */ .nb(`user ${user} belongs to another run`);
        }
        const target = account(user, String(ours.host));
        const exists = accounts.some((row) => row.host === ours.host);
        if (exists) {
            // Lock first so that no session can start between the kill and the drop.
            await c.query(`ALTER USER IF EXISTS ${target} ACCOUNT LOCK`);
            await killSessions(c, user);
        }
        await c.query(`DROP USER IF EXISTS ${target}`);
        // An admin without EVENT on our schema made no event, and may not even look for one.
        await c.query(`DROP EVENT IF EXISTS ${eventName(user)}`).catch((err) => {
            if (!NO_PRIVILEGE.includes(err.errno ?? 0))
                throw err;
        });
        await c.query(`DELETE FROM ${TABLE} WHERE user = ?`, [user]);
        return exists ? 'revoked' : 'absent';
    }
    /**
     * MariaDB lets an admin set another user's default role only with UPDATE on mysql.*; a user
     * may always set its own, so without that privilege the new user sets it for itself.
     */
    async function mariaDbDefaultRole(c, req, role, target) {
        try {
            await c.query(`SET DEFAULT ROLE ${role} FOR ${target}`);
        }
        catch (err) {
            if (!NO_PRIVILEGE.includes(err.errno ?? 0))
                throw err;
            const self = await mysql2_promise__WEBPACK_IMPORTED_MODULE_1__.createConnection({
                host,
                port,
                user: req.username,
                password: req.password,
                connectTimeout: connectTimeoutMs,
                ...(ssl ? { ssl } : {})
            });
            try {
                await self.query(`SET DEFAULT ROLE ${role}`);
            }
            finally {
                await self.end().catch(() => self.destroy());
            }
        }
    }
    /** The server's own expiry: a one-shot event that drops the user and ends its sessions. */
    function expiryEvent(user, hostPattern, expiresAt) {
        return `CREATE EVENT ${eventName(user)} ON SCHEDULE AT ${lit(sqlTime(expiresAt))} ON COMPLETION NOT PRESERVE
DO BEGIN
  -- A failed DROP USER stops the event here, so the row stays and sweep tries again.
  DROP USER IF EXISTS ${account(user, hostPattern)};
  BEGIN
    DECLARE done INT DEFAULT 0;
    DECLARE cid BIGINT;
    DECLARE sessions CURSOR FOR SELECT id FROM information_schema.processlist WHERE user = ${lit(user)};
    DECLARE CONTINUE HANDLER FOR NOT FOUND SET done = 1;
    -- A session may end between the listing and its KILL.
    DECLARE CONTINUE HANDLER FOR SQLEXCEPTION BEGIN END;
    OPEN sessions;
    kill_all: LOOP
      FETCH sessions INTO cid;
      IF done THEN LEAVE kill_all; END IF;
      KILL CONNECTION cid;
    END LOOP;
    CLOSE sessions;
  END;
  DELETE FROM ${TABLE} WHERE user = ${lit(user)};
END`;
    }
    return {
        async issue(req) {
            const target = account(req.username, userHost);
            const notes = [];
            try {
                await withConnection(async (c, server) => {
                    if (server.mariadb && req.roles.length > 1) {
                        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .dz(`MariaDB makes only one role active at login, and roles lists ${req.roles.length}; grant one role that holds the others`);
                    }
                    const roles = req.roles.map((r) => (server.mariadb ? id(r) : lit(r))).join(', ');
                    const statements = [
                        `CREATE DATABASE IF NOT EXISTS ${id(SCHEMA)}`,
                        `CREATE TABLE IF NOT EXISTS ${TABLE} (user VARCHAR(80) NOT NULL, host VARCHAR(255) NOT NULL,
               expires_at DATETIME NOT NULL, marker TEXT NOT NULL, PRIMARY KEY (user, host))`,
                        // Booked before it exists: if we die half-way, sweep still finds it.
                        `INSERT INTO ${TABLE} (user, host, expires_at, marker) VALUES (${lit(req.username)}, ${lit(userHost)}, ${lit(sqlTime(req.expiresAt))}, ${lit((0,_types_js__WEBPACK_IMPORTED_MODULE_5__/* .encodeMarker */ .$N)(req.marker))})`,
                        `CREATE USER ${target} IDENTIFIED BY ${lit(req.password)}`,
                        ...(req.roles.length ? [`GRANT ${roles} TO ${target}`] : []),
                        ...(req.roles.length && !server.mariadb ? [`SET DEFAULT ROLE ALL TO ${target}`] : [])
                    ];
                    try {
                        await c.query(statements.join(';\n'));
                        if (req.roles.length && server.mariadb)
                            await mariaDbDefaultRole(c, req, roles, target);
                    }
                    catch (err) {
                        // MySQL's DDL is not transactional: undo by hand whatever part ran.
                        await revokeWith(c, req.username).catch(() => undefined);
                        throw err;
                    }
                    if (!server.scheduler) {
                        notes.push(`The event scheduler is off on ${where}, so the server will not drop ${req.username} at its expiry by itself; ` +
                            'the post step and `sweep` will. Turn it on with SET GLOBAL event_scheduler = ON (and event_scheduler=ON in the server config).');
                        return;
                    }
                    await c.query(expiryEvent(req.username, userHost, req.expiresAt)).catch((err) => {
                        notes.push(`Could not create the expiry event for ${req.username} on ${where} (${(0,_util_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(err)}); ` +
                            `the post step and \`sweep\` remove it instead. Grant the admin EVENT on ${SCHEMA}.* for a server-side expiry.`);
                    });
                });
            }
            catch (err) {
                throw (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .withContext */ .eQ)(`Could not create MySQL user on ${where}`, err);
            }
            return { ...(0,_credential_js__WEBPACK_IMPORTED_MODULE_6__/* .credentialFor */ .F)('mysql', { ...req, host, port }), notes };
        },
        async revoke(username, allow) {
            try {
                return await withConnection((c) => revokeWith(c, username, allow));
            }
            catch (err) {
                if (err instanceof _types_js__WEBPACK_IMPORTED_MODULE_5__/* .NotOwnerError */ .nb)
                    throw err;
                throw (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .withContext */ .eQ)(`Could not revoke MySQL user ${username} on ${where}`, err);
            }
        },
        async sweep({ dryRun }) {
            try {
                return await withConnection(async (c) => {
                    const [rows] = await c
                        .query(`SELECT user, marker FROM ${TABLE} WHERE expires_at <= UTC_TIMESTAMP(6) ORDER BY user`)
                        .catch((err) => {
                        if (NO_SUCH_SCHEMA.includes(err.errno ?? 0))
                            return [[]];
                        throw err;
                    });
                    const expired = rows
                        .filter((row) => (0,_types_js__WEBPACK_IMPORTED_MODULE_5__/* .decodeMarker */ .rH)(String(row.marker)))
                        .map((row) => String(row.user));
                    if (dryRun)
                        return expired;
                    const swept = [];
                    const failed = [];
                    for (const name of expired) {
                        try {
                            if ((await revokeWith(c, name)) === 'revoked')
                                swept.push(name);
                        }
                        catch (err) {
                            failed.push(`${name} (${(0,_util_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .errorMessage */ .gJ)(err)})`); // one stuck user must not shield the rest
                        }
                    }
                    if (failed.length)
                        throw new Error(`revoked ${swept.length}, but could not revoke ${failed.join('; ')}`);
                    return swept;
                });
            }
            catch (err) {
                throw (0,_util_errors_js__WEBPACK_IMPORTED_MODULE_2__/* .withContext */ .eQ)(`Could not sweep MySQL users on ${where}`, err);
            }
        }
    };
}
/** TLS as the admin URL's `ssl-mode` (and `ssl-ca`) ask, in the MySQL client's terms. */
function tlsOptions(params) {
    const mode = (params.get('ssl-mode') ?? 'DISABLED').toUpperCase();
    if (mode === 'DISABLED')
        return undefined;
    const ca = params.get('ssl-ca');
    return {
        ...(ca ? { ca: (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(ca, 'utf8') } : {}),
        rejectUnauthorized: mode !== 'REQUIRED',
        verifyIdentity: mode === 'VERIFY_IDENTITY'
    };
}
/** A UTC time as MySQL's DATETIME literal reads it (whole seconds). */
function sqlTime(date) {
    return date.toISOString().slice(0, 19).replace('T', ' ');
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

//# sourceMappingURL=0.index.js.map