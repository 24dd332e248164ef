export const id = 175;
export const ids = [175];
export const modules = {

/***/ 2175:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   loadBrokerConfig: () => (/* binding */ loadBrokerConfig)
/* harmony export */ });
/* unused harmony export parseBrokerConfig */
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(3024);
/* harmony import */ var node_fs__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var js_yaml__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(3243);
/* harmony import */ var _settings_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(8750);
/* harmony import */ var _util_duration_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(6518);
/* harmony import */ var _util_errors_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(17);





const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
/** Reads and validates a YAML config; every error names the key at fault. */
function loadBrokerConfig(path, env = process.env) {
    let raw;
    try {
        raw = (0,js_yaml__WEBPACK_IMPORTED_MODULE_1__/* .load */ .Hh)((0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(path, 'utf8'));
    }
    catch (err) {
        throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_4__/* .InputError */ .dz(`config ${path}: ${err.message.split('\n')[0]}`);
    }
    return parseBrokerConfig(raw, env);
}
/** Validates an already parsed config. */
function parseBrokerConfig(raw, env = process.env) {
    const root = object(raw, 'config');
    const listen = object(root.listen ?? {}, 'listen');
    const port = Number(listen.port ?? 8080);
    if (!Number.isInteger(port) || port < 0 || port > 65535)
        fail('listen.port', 'must be a port number');
    const issuers = list(root.issuers, 'issuers').map((item, i) => {
        const at = `issuers[${i}]`;
        const issuer = object(item, at);
        const audiences = list(issuer.audiences, `${at}.audiences`).map((a, j) => text(a, `${at}.audiences[${j}]`));
        if (!audiences.length)
            fail(`${at}.audiences`, 'needs at least one audience');
        return {
            issuer: url(issuer.issuer, `${at}.issuer`),
            audiences,
            ...(issuer.jwks_uri !== undefined ? { jwksUri: url(issuer.jwks_uri, `${at}.jwks_uri`) } : {})
        };
    });
    if (!issuers.length)
        fail('issuers', 'needs at least one issuer');
    const targets = new Map();
    for (const [name, value] of Object.entries(object(root.targets, 'targets'))) {
        const at = `targets.${name}`;
        if (!NAME.test(name))
            fail(at, 'names may hold letters, digits and _ . - only');
        const target = object(value, at);
        const provider = text(target.provider, `${at}.provider`);
        if (provider !== 'postgres' && provider !== 'mysql')
            fail(`${at}.provider`, 'must be postgres or mysql');
        if ('admin_url' in target)
            fail(`${at}.admin_url`, 'is not allowed: use admin_url_env or admin_url_file');
        let adminText;
        if (target.admin_url_env !== undefined) {
            const variable = text(target.admin_url_env, `${at}.admin_url_env`);
            adminText =
                env[variable] ?? fail(`${at}.admin_url_env`, `names ${variable}, which is not set`);
        }
        else if (target.admin_url_file !== undefined) {
            const file = text(target.admin_url_file, `${at}.admin_url_file`);
            try {
                adminText = (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(file, 'utf8').trim();
            }
            catch {
                fail(`${at}.admin_url_file`, `cannot read ${file}`);
            }
        }
        else {
            fail(at, 'needs admin_url_env or admin_url_file');
        }
        let adminUrl;
        try {
            adminUrl = (0,_settings_js__WEBPACK_IMPORTED_MODULE_2__/* .parseAdminUrl */ .kt)(provider, adminText);
        }
        catch (err) {
            fail(at, err.message);
        }
        targets.set(name, {
            name,
            provider,
            adminUrl,
            userHost: target.user_host === undefined ? '%' : text(target.user_host, `${at}.user_host`),
            connectTimeoutMs: duration(target.connect_timeout ?? '10s', `${at}.connect_timeout`) * 1000
        });
    }
    if (!targets.size)
        fail('targets', 'needs at least one target');
    const profiles = new Map();
    for (const [name, value] of Object.entries(object(root.profiles, 'profiles'))) {
        const at = `profiles.${name}`;
        if (!NAME.test(name))
            fail(at, 'names may hold letters, digits and _ . - only');
        const profile = object(value, at);
        const target = text(profile.target, `${at}.target`);
        if (!targets.has(target))
            fail(`${at}.target`, `names no target "${target}"`);
        const bound = object(profile.bound_claims ?? {}, `${at}.bound_claims`);
        // A profile anyone with a token from a trusted issuer could use would be a public one.
        if (!Object.keys(bound).length)
            fail(`${at}.bound_claims`, 'needs at least one bound claim');
        const boundClaims = {};
        for (const [claim, expected] of Object.entries(bound)) {
            boundClaims[claim] = Array.isArray(expected)
                ? expected.map((item, i) => scalar(item, `${at}.bound_claims.${claim}[${i}]`))
                : scalar(expected, `${at}.bound_claims.${claim}`);
        }
        const maxTtl = duration(profile.max_ttl ?? '1h', `${at}.max_ttl`);
        const defaultTtl = duration(profile.default_ttl ?? '15m', `${at}.default_ttl`);
        if (defaultTtl > maxTtl)
            fail(`${at}.default_ttl`, 'is longer than max_ttl');
        let roles;
        try {
            roles = (0,_settings_js__WEBPACK_IMPORTED_MODULE_2__/* .parseRoles */ .fF)(list(profile.roles ?? [], `${at}.roles`)
                .map((r, i) => text(r, `${at}.roles[${i}]`))
                .join(','));
        }
        catch (err) {
            fail(`${at}.roles`, err.message);
        }
        const prefix = profile.username_prefix === undefined
            ? 'ci'
            : text(profile.username_prefix, `${at}.username_prefix`);
        if (!/^[a-z][a-z0-9_]{0,13}$/.test(prefix))
            fail(`${at}.username_prefix`, 'must match [a-z][a-z0-9_]*, at most 14');
        profiles.set(name, {
            name,
            target,
            roles,
            ...(profile.database !== undefined
                ? { database: text(profile.database, `${at}.database`) }
                : {}),
            usernamePrefix: prefix,
            defaultTtlSeconds: defaultTtl,
            maxTtlSeconds: maxTtl,
            boundClaims
        });
    }
    if (!profiles.size)
        fail('profiles', 'needs at least one profile');
    const tls = root.tls === undefined ? undefined : object(root.tls, 'tls');
    const limits = object(root.limits ?? {}, 'limits');
    return {
        listen: {
            host: listen.host === undefined ? '127.0.0.1' : text(listen.host, 'listen.host'),
            port
        },
        ...(tls
            ? {
                tls: {
                    cert: readPem(tls.cert_file, 'tls.cert_file'),
                    key: readPem(tls.key_file, 'tls.key_file')
                }
            }
            : {}),
        issuers,
        targets,
        profiles,
        sweepIntervalMs: duration(root.sweep_interval ?? '60s', 'sweep_interval') * 1000,
        auditLog: root.audit_log === undefined ? 'stdout' : text(root.audit_log, 'audit_log'),
        limits: {
            maxBodyBytes: count(limits.max_body_bytes ?? 16 * 1024, 'limits.max_body_bytes'),
            requestTimeoutMs: duration(limits.request_timeout ?? '30s', 'limits.request_timeout') * 1000,
            maxConcurrentCreations: count(limits.max_concurrent_creations ?? 8, 'limits.max_concurrent_creations')
        }
    };
}
function fail(key, problem) {
    throw new _util_errors_js__WEBPACK_IMPORTED_MODULE_4__/* .InputError */ .dz(`config: ${key} ${problem}`);
}
function count(value, key) {
    if (!Number.isSafeInteger(value) || value < 1)
        fail(key, 'must be a whole number above 0');
    return value;
}
function object(value, key) {
    if (!value || typeof value !== 'object' || Array.isArray(value))
        fail(key, 'must be a mapping');
    return value;
}
function list(value, key) {
    if (!Array.isArray(value))
        fail(key, 'must be a list');
    return value;
}
function text(value, key) {
    if (typeof value !== 'string' || !value.trim())
        fail(key, 'must be a non-empty string');
    return value.trim();
}
function scalar(value, key) {
    if (typeof value === 'number')
        return String(value);
    return text(value, key);
}
function url(value, key) {
    // Kept exactly as written: an issuer is compared with the token's iss character for character.
    const raw = text(value, key);
    try {
        new URL(raw);
    }
    catch {
        fail(key, `"${raw}" is not a URL`);
    }
    return raw;
}
function duration(value, key) {
    try {
        return (0,_util_duration_js__WEBPACK_IMPORTED_MODULE_3__/* .parseDuration */ .E)(key, String(value), 12 * 3600);
    }
    catch (err) {
        fail(key, err.message.replace(`${key} `, ''));
    }
}
function readPem(value, key) {
    const file = text(value, key);
    try {
        return (0,node_fs__WEBPACK_IMPORTED_MODULE_0__.readFileSync)(file, 'utf8');
    }
    catch {
        fail(key, `cannot read ${file}`);
    }
}


/***/ })

};

//# sourceMappingURL=175.index.js.map