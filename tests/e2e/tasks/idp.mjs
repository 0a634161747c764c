// idp.mjs: the users' identity provider of tests/e2e/tasks/run.sh, a real OpenID Connect
// provider (npm oidc-provider) on loopback whose ID tokens carry a `groups` claim (the
// provider of tests/e2e/oidc issues CI-job claims and no groups).  The users log in
// without a human: the authorization code flow (with PKCE) driven over HTTP, the
// interaction step logging in the user named by login_hint.  It uses the npm packages
// installed in tests/e2e/oidc (oidc-provider and jose), loaded by path.
//
//   node idp.mjs serve --state DIR
//     Starts the provider on 127.0.0.1 (a free port); writes DIR/port once listening.
//     The issuer is http://127.0.0.1:PORT.
//   node idp.mjs token --base URL CLIENT:USER...
//     Runs the flow once per CLIENT:USER and prints one ID token per line.
//   node idp.mjs verify JWKS_FILE TOKEN ISSUER AUDIENCE SUBJECT
//     jose's jwtVerify of a mandate (RFC 9068: typ at+jwt, ES256) against the JWKS mandated
//     served; prints "verified <payload>" and exits 0, or "refused <code>" and exits 1.
import { readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

const modules = new URL('../oidc/node_modules/', import.meta.url);
const jose = await import(new URL('jose/dist/webapi/index.js', modules));
const { default: Provider } = await import(new URL('oidc-provider/lib/index.js', modules));

// The users, and the claims of their ID tokens.
const USERS = {
  alice: { email: 'alice@example.org', email_verified: true, groups: ['eng', 'support'] },
  bob: { email: 'bob@example.org', email_verified: true, groups: ['sales'] },
};
const SECRET = 'a-client-secret-for-tests-only-0123456789';
const REDIRECT = 'http://127.0.0.1:9/cb'; // never fetched: the client stops at the redirect

function args(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) out[argv[i].slice(2)] = argv[++i];
    else out._.push(argv[i]);
  }
  return out;
}

async function serve(o) {
  const { privateKey } = await jose.generateKeyPair('RS256', { extractable: true });
  const jwk = { ...(await jose.exportJWK(privateKey)), kid: `rs-${randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' };
  let provider;
  const server = http.createServer(async (req, res) => {
    try {
      if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
        const details = await provider.interactionDetails(req, res);
        const accountId = details.params.login_hint;
        if (!USERS[accountId]) {
          await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unknown user' });
          return;
        }
        const grant = new provider.Grant({ accountId, clientId: details.params.client_id });
        grant.addOIDCScope(details.params.scope);
        const grantId = await grant.save();
        await provider.interactionFinished(req, res, { login: { accountId }, consent: { grantId } },
          { mergeWithLastSubmission: false });
        return;
      }
      provider.callback()(req, res);
    } catch (e) {
      res.statusCode = 500;
      res.end(String(e));
    }
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const port = server.address().port;
  const client = (id) => ({ client_id: id, client_secret: SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'], response_types: ['code'] });
  provider = new Provider(`http://127.0.0.1:${port}`, {
    clients: [client('mandate-tasks'), client('other-app')],
    jwks: { keys: [jwk] },
    cookies: { keys: ['cookie-key-for-tests-only-0123456789'] },
    scopes: ['openid', 'email', 'groups'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    conformIdTokenClaims: false, // the scopes' claims in the ID token itself
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    ttl: { IdToken: 3600 },
    findAccount: async (ctx, sub) => USERS[sub] && {
      accountId: sub,
      async claims() { return { sub, ...USERS[sub] }; },
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  writeFileSync(`${o.state}/port`, `${port}\n`);
  console.log(`idp http://127.0.0.1:${port} listening`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// A tiny HTTP client that never follows redirects and keeps cookies.
function request(url, { method = 'GET', headers = {}, body, jar }) {
  const cookie = Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ');
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(url), { method, headers: { ...headers, ...(cookie ? { cookie } : {}) } }, (res) => {
      for (const c of res.headers['set-cookie'] || []) {
        const [kv] = c.split(';');
        const i = kv.indexOf('=');
        jar[kv.slice(0, i)] = kv.slice(i + 1);
      }
      let data = '';
      res.on('data', (d) => { data += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.setTimeout(10000, () => req.destroy(new Error('timeout')));
    if (body) req.write(body);
    req.end();
  });
}

async function oneToken(base, clientId, user) {
  const jar = {};
  const conf = JSON.parse((await request(`${base}/.well-known/openid-configuration`, { jar })).body);
  const verifier = randomBytes(32).toString('base64url');
  const auth = new URL(conf.authorization_endpoint);
  const params = {
    client_id: clientId, response_type: 'code', redirect_uri: REDIRECT, scope: 'openid email groups',
    login_hint: user, code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256', state: randomBytes(8).toString('hex'), nonce: randomBytes(8).toString('hex'),
  };
  for (const [k, v] of Object.entries(params)) auth.searchParams.set(k, v);
  let url = auth.toString();
  let code = null;
  for (let hops = 0; hops < 6 && !code; hops++) {
    const res = await request(url, { jar });
    if (res.status < 300 || res.status >= 400) throw new Error(`unexpected ${res.status} at ${url}: ${res.body.slice(0, 300)}`);
    const next = new URL(res.headers.location, url);
    if (next.toString().startsWith(REDIRECT)) {
      if (next.searchParams.get('error')) throw new Error(`authorization failed: ${next.searchParams.get('error')}`);
      code = next.searchParams.get('code');
    }
    url = next.toString();
  }
  if (!code) throw new Error('no authorization code');
  const tok = await request(conf.token_endpoint, {
    method: 'POST', jar: {},
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${clientId}:${SECRET}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
  });
  const out = JSON.parse(tok.body);
  if (!out.id_token) throw new Error(`no id_token: ${tok.body}`);
  return out.id_token;
}

async function token(o) {
  for (const pair of o._.slice(1)) {
    const [clientId, user] = pair.split(':');
    process.stdout.write(`${await oneToken(o.base.replace(/\/$/, ''), clientId, user)}\n`);
  }
}

async function verify(o) {
  const [, jwksFile, tok, issuer, audience, subject] = o._;
  const jwks = jose.createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
  try {
    const { payload, protectedHeader } = await jose.jwtVerify(tok, jwks, {
      algorithms: ['ES256'], typ: 'at+jwt', issuer, audience, subject,
      requiredClaims: ['iat', 'exp', 'jti', 'client_id', 'scope'],
    });
    console.log(`verified ${JSON.stringify(payload)} ${JSON.stringify(protectedHeader)}`);
  } catch (e) {
    console.log(`refused ${e.code ?? e.name}: ${e.message}`);
    process.exit(1);
  }
}

const o = args(process.argv.slice(2));
const run = { serve, token, verify }[o._[0]];
if (!run) {
  console.error('usage: idp.mjs serve|token|verify ... (see the top of the file)');
  process.exit(2);
}
run(o).catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
