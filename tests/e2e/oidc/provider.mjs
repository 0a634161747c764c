// provider.mjs: a real OpenID Connect provider (npm oidc-provider) on loopback, standing in
// for a CI platform's IdP, plus the client side that obtains ID tokens from it without a
// human: the authorization code flow (with PKCE) driven over HTTP, where the provider's
// interaction step logs in the job named by login_hint and grants the requested scopes,
// as a platform does for a job it has already authenticated.
//
//   node provider.mjs serve --state DIR [--port N] [--issuer URL] [--rotate] [--tls CERT,KEY]
//        [--host 127.0.0.1] [--name NAME]
//     Starts the provider; writes DIR/port once listening; appends "METHOD PATH" of every
//     request to DIR/requests.log; keeps its signing keys in DIR/keys.json (new ones with
//     --rotate).  The issuer defaults to http(s)://NAME:PORT (NAME defaults to HOST).
//   node provider.mjs token --base URL --client ID --account JOB [--ca CERT] [--count N]
//     Runs the flow against the provider at URL and prints the ID token (N times: N tokens).
//   node provider.mjs high-s
//     Reads ES256 tokens on stdin, prints how many have s > n/2 (signers need not normalise s).
//   node provider.mjs forge --issuer URL --aud AUD [--count N]
//     Prints N tokens, each with a made-up kid, signed by a throwaway key (for the rate-limit test).
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import * as jose from 'jose';
import Provider from 'oidc-provider';

function args(argv) {
  const out = { _: [] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i].startsWith('--')) {
      const k = argv[i].slice(2);
      const v = i + 1 < argv.length && !argv[i + 1].startsWith('--') ? argv[++i] : true;
      out[k] = v;
    } else out._.push(argv[i]);
  }
  return out;
}

// The jobs this "CI platform" runs, and the claims their ID tokens carry.
const ACCOUNTS = {
  'ci-job': { email: 'ci-bot@acme.example', email_verified: true, repository_owner: 'acme', repository: 'widgets', ref: 'main' },
  'release-job': { email: 'release@acme.example', email_verified: true, repository_owner: 'acme', repository: 'gadgets', ref: 'v1.2.3' },
  'evil-job': { email: 'x@evil.example', email_verified: true, repository_owner: 'evil', repository: 'widgets', ref: 'main' },
  'slash-job': { email: 'ci-bot@acme.example', email_verified: true, repository_owner: 'acme', repository: 'acme/widgets', ref: 'main' },
  'noref-job': { email: 'ci-bot@acme.example', email_verified: true, repository_owner: 'acme', repository: 'widgets' },
};
const SECRET = 'a-client-secret-for-tests-only-0123456789';
const REDIRECT = 'http://127.0.0.1:9/cb'; // never fetched: the client stops at the redirect

async function newKeys() {
  const keys = [];
  for (const alg of ['RS256', 'ES256']) {
    const { privateKey } = await jose.generateKeyPair(alg, { extractable: true });
    const jwk = await jose.exportJWK(privateKey);
    jwk.kid = `${alg.toLowerCase()}-${randomBytes(6).toString('hex')}`;
    jwk.alg = alg;
    jwk.use = 'sig';
    keys.push(jwk);
  }
  return { keys };
}

async function serve(o) {
  const state = o.state;
  const keyFile = `${state}/keys.json`;
  if (o.rotate || !existsSync(keyFile)) writeFileSync(keyFile, JSON.stringify(await newKeys()), { mode: 0o600 });
  const jwks = JSON.parse(readFileSync(keyFile, 'utf8'));
  const host = o.host || '127.0.0.1';
  const tls = o.tls ? o.tls.split(',') : null;
  let provider;
  const handler = async (req, res) => {
    appendFileSync(`${state}/requests.log`, `${req.method} ${req.url.split('?')[0]}\n`);
    try {
      if (req.method === 'GET' && req.url.startsWith('/interaction/')) {
        const details = await provider.interactionDetails(req, res);
        const accountId = details.params.login_hint;
        if (!ACCOUNTS[accountId]) {
          await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'unknown job' });
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
  };
  const server = tls
    ? https.createServer({ cert: readFileSync(tls[0]), key: readFileSync(tls[1]) }, handler)
    : http.createServer(handler);
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(o.port || 0), host, resolve);
  });
  const port = server.address().port;
  const issuer = o.issuer || `${tls ? 'https' : 'http'}://${o.name || host}:${port}`;
  provider = new Provider(issuer, {
    clients: [
      { client_id: 'mandate-ci', client_secret: SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'], response_types: ['code'] },
      { client_id: 'mandate-ci-es', client_secret: SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'], response_types: ['code'], id_token_signed_response_alg: 'ES256' },
      { client_id: 'other-app', client_secret: SECRET, redirect_uris: [REDIRECT], grant_types: ['authorization_code'], response_types: ['code'] },
    ],
    jwks,
    cookies: { keys: ['cookie-key-for-tests-only-0123456789'] },
    scopes: ['openid', 'email', 'ci'],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], ci: ['repository_owner', 'repository', 'ref'] },
    conformIdTokenClaims: false, // put the scopes' claims in the ID token, as CI platforms do
    features: { devInteractions: { enabled: false } },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    pkce: { required: () => true },
    ttl: { IdToken: 3600 },
    findAccount: async (ctx, sub) => ACCOUNTS[sub] && {
      accountId: sub,
      async claims() { return { sub, ...ACCOUNTS[sub] }; },
    },
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  writeFileSync(`${state}/port`, `${port}\n`);
  console.log(`oidc-provider ${issuer} listening on ${host}:${port}`);
  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

// A tiny HTTP client that never follows redirects and keeps cookies.
function request(url, { method = 'GET', headers = {}, body, ca, jar }) {
  const u = new URL(url);
  const mod = u.protocol === 'https:' ? https : http;
  const cookie = Object.entries(jar).map(([k, v]) => `${k}=${v}`).join('; ');
  return new Promise((resolve, reject) => {
    const req = mod.request(u, { method, headers: { ...headers, ...(cookie ? { cookie } : {}) }, ca }, (res) => {
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

async function token(o) {
  for (let i = 0; i < Number(o.count || 1); i++) await oneToken(o);
}

async function oneToken(o) {
  const base = o.base.replace(/\/$/, '');
  const ca = o.ca ? readFileSync(o.ca) : undefined;
  const jar = {};
  const conf = JSON.parse((await request(`${base}/.well-known/openid-configuration`, { ca, jar })).body);
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const auth = new URL(conf.authorization_endpoint);
  const params = {
    client_id: o.client, response_type: 'code', redirect_uri: REDIRECT, scope: o.scope || 'openid email ci',
    login_hint: o.account, code_challenge: challenge, code_challenge_method: 'S256',
    state: randomBytes(8).toString('hex'), nonce: randomBytes(8).toString('hex'),
  };
  for (const [k, v] of Object.entries(params)) auth.searchParams.set(k, v);
  // /auth -> /interaction/:uid -> /auth/:uid -> redirect_uri?code=...
  let url = auth.toString();
  let code = null;
  for (let hops = 0; hops < 6 && !code; hops++) {
    const res = await request(url, { ca, jar });
    if (res.status < 300 || res.status >= 400) throw new Error(`unexpected ${res.status} at ${url}: ${res.body.slice(0, 300)}`);
    const next = new URL(res.headers.location, url);
    if (next.toString().startsWith(REDIRECT)) {
      if (next.searchParams.get('error')) throw new Error(`authorization failed: ${next.searchParams.get('error_description') || next.searchParams.get('error')}`);
      code = next.searchParams.get('code');
    }
    // the provider's own URLs are built from its issuer; go to the address we were given
    url = new URL(next.pathname + next.search, base + '/').toString();
  }
  if (!code) throw new Error('no authorization code');
  const form = new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier });
  const tok = await request(conf.token_endpoint.replace(/^https?:\/\/[^/]+/, base), {
    method: 'POST', ca, jar: {},
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${o.client}:${SECRET}`).toString('base64')}`,
    },
    body: form.toString(),
  });
  const out = JSON.parse(tok.body);
  if (!out.id_token) throw new Error(`no id_token: ${tok.body}`);
  process.stdout.write(`${out.id_token}\n`);
}

async function forge(o) {
  const { privateKey } = await jose.generateKeyPair('ES256');
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < Number(o.count || 1); i++) {
    const t = await new jose.SignJWT({ sub: 'ci-job', repository_owner: 'acme', repository: 'widgets', ref: 'main', email: 'ci-bot@acme.example', email_verified: true })
      .setProtectedHeader({ alg: 'ES256', kid: `made-up-${randomBytes(6).toString('hex')}`, typ: 'JWT' })
      .setIssuer(o.issuer).setAudience(o.aud).setIssuedAt(now).setExpirationTime(now + 600)
      .sign(privateKey);
    process.stdout.write(`${t}\n`);
  }
}

async function highS() {
  const n = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551');
  const lines = readFileSync(0, 'utf8').split('\n').filter(Boolean);
  let high = 0;
  for (const t of lines) {
    const sig = Buffer.from(t.split('.')[2], 'base64url');
    if (BigInt(`0x${sig.subarray(32).toString('hex')}`) > n / 2n) high++;
  }
  process.stdout.write(`${high}\n`);
}

const o = args(process.argv.slice(2));
const cmd = o._[0];
const run = { serve, token, forge, 'high-s': highS }[cmd] || null;
if (!run) {
  console.error('usage: provider.mjs serve|token|forge ... (see the top of the file)');
  process.exit(2);
}
run(o).catch((e) => {
  console.error(e && e.stack ? e.stack : e);
  process.exit(1);
});
