// dpop.mjs: the npm `jose` side of the DPoP (RFC 9449) cross-check (see dpop.sh, run by run.sh).
//
//   node dpop.mjs gen DIR NOW HTU TOKEN
//        proofs made by jose for a POST to HTU presenting TOKEN (so with ath), in DIR:
//        dpop-ALG.txt and dpop-ALG.jkt (jose's calculateJwkThumbprint of the embedded jwk) for
//        ES256 EdDSA ES384 RS256 PS256; for ES256 and ES384 the proof in both ECDSA forms,
//        dpop-ALG-low.txt and dpop-ALG-high.txt (mandate accepts both for DPoP);
//        and the cases mandate must refuse or accept for a reason, dpop-CASE.txt (see `cases`).
//   node dpop.mjs verify PROOF HTM HTU NOW [TOKEN]
//        jose's verification of a proof (jwtVerify with EmbeddedJWK, typ dpop+jwt, iat at most
//        60 s old) plus the htm, htu and ath checks; prints {"jkt","jti"} (exit 0) or the error (exit 1)
import { createHash, createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  EmbeddedJWK, SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, jwtVerify,
} from 'jose';

const ALGS = ['ES256', 'EdDSA', 'ES384', 'RS256', 'PS256'];
const ORDER = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};
const b64 = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const ath = (token) => createHash('sha256').update(token, 'ascii').digest('base64url');

// The proof with its ECDSA signature's s in the low (s <= n/2) or high form.
function ecdsaForm(token, alg, high) {
  const [h, p, sig] = token.split('.');
  const raw = Buffer.from(sig, 'base64url');
  const half = raw.length / 2, n = ORDER[alg];
  let s = BigInt(`0x${raw.subarray(half).toString('hex')}`);
  if ((s > n / 2n) !== high) s = n - s;
  Buffer.from(s.toString(16).padStart(2 * half, '0'), 'hex').copy(raw, half);
  return `${h}.${p}.${raw.toString('base64url')}`;
}

async function proof(privateKey, alg, jwk, claims, header = {}) {
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'dpop+jwt', jwk, ...header }).sign(privateKey);
}

async function gen(dir, now, htu, token) {
  const write = (name, text) => writeFileSync(join(dir, name), text);
  const base = (jti) => ({ jti, htm: 'POST', htu, iat: now, ath: ath(token) });
  const keys = {};
  for (const alg of ALGS) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    const jwk = await exportJWK(publicKey);
    keys[alg] = { publicKey, privateKey, jwk };
    const p = await proof(privateKey, alg, jwk, base(`jti-${alg}`));
    write(`dpop-${alg}.jkt`, await calculateJwkThumbprint(jwk));
    write(`dpop-${alg}.txt`, p);
    if (ORDER[alg]) {
      write(`dpop-${alg}-low.txt`, ecdsaForm(p, alg, false));
      write(`dpop-${alg}-high.txt`, ecdsaForm(p, alg, true));
    }
  }
  const { privateKey, jwk } = keys.ES256;
  const good = await proof(privateKey, 'ES256', jwk, base('jti-case'));
  const [gh, , gs] = good.split('.');
  const cases = {
    // the payload of another request (a GET) under the POST's signature
    'tampered': `${gh}.${b64({ ...base('jti-case'), htm: 'GET' })}.${gs}`,
    'typ-jwt': await proof(privateKey, 'ES256', jwk, base('jti-typ'), { typ: 'JWT' }),
    'private-jwk': await proof(privateKey, 'ES256', await exportJWK(privateKey), base('jti-priv')),
    'kid': await proof(privateKey, 'ES256', jwk, base('jti-kid'), { kid: await calculateJwkThumbprint(jwk) }),
    'none': `${b64({ alg: 'none', typ: 'dpop+jwt', jwk })}.${b64(base('jti-none'))}.`,
    // HMAC keyed with the public key's thumbprint, the key named in the header
    'hs256': (() => {
      const input = `${b64({ alg: 'HS256', typ: 'dpop+jwt', jwk })}.${b64(base('jti-hs'))}`;
      return `${input}.${createHmac('sha256', JSON.stringify(jwk)).update(input).digest('base64url')}`;
    })(),
    'old': await proof(privateKey, 'ES256', jwk, { ...base('jti-old'), iat: now - 3600 }),
    'future': await proof(privateKey, 'ES256', jwk, { ...base('jti-future'), iat: now + 600 }),
    'wrong-ath': await proof(privateKey, 'ES256', jwk, { ...base('jti-ath'), ath: ath(`${token}x`) }),
    'no-ath': await proof(privateKey, 'ES256', jwk, { jti: 'jti-noath', htm: 'POST', htu, iat: now }),
    'no-jti': await proof(privateKey, 'ES256', jwk, { htm: 'POST', htu, iat: now, ath: ath(token) }),
    'get': await proof(privateKey, 'ES256', jwk, { ...base('jti-get'), htm: 'GET' }),
    'other-htu': await proof(privateKey, 'ES256', jwk, { ...base('jti-htu'), htu: `${htu}/x` }),
    // the same URI spelled differently: scheme and host case, default port, query, fragment
    'normalised-htu': await proof(privateKey, 'ES256', jwk, {
      ...base('jti-norm'),
      htu: htu.replace(/^https:\/\/([^/]+)/, (m, host) => `HTTPS://${host.toUpperCase()}:443`) + '?x=1#f',
    }),
    'nonce': await proof(privateKey, 'ES256', jwk, { ...base('jti-nonce'), nonce: 'n-1' }),
  };
  // the header names another Ed25519 key than the one that signed
  const other = await generateKeyPair('EdDSA', { extractable: true });
  cases['swapped-jwk'] = await proof(keys.EdDSA.privateKey, 'EdDSA', await exportJWK(other.publicKey),
    base('jti-swap'));
  // an EdDSA proof with one signature byte changed
  const ed = (await proof(keys.EdDSA.privateKey, 'EdDSA', keys.EdDSA.jwk, base('jti-edbad'))).split('.');
  const sig = Buffer.from(ed[2], 'base64url');
  sig[10] ^= 1;
  cases['ed-bad-sig'] = `${ed[0]}.${ed[1]}.${sig.toString('base64url')}`;
  for (const [name, text] of Object.entries(cases)) write(`dpop-${name}.txt`, text);
}

async function verify(token, htm, htu, now, access) {
  try {
    const { payload, protectedHeader } = await jwtVerify(token, EmbeddedJWK, {
      typ: 'dpop+jwt', algorithms: ['ES256', 'EdDSA'], currentDate: new Date(now * 1000),
      maxTokenAge: '60s', requiredClaims: ['jti', 'htm', 'htu', 'iat'],
    });
    if (payload.htm !== htm) throw Object.assign(new Error('htm'), { code: 'HTM_MISMATCH' });
    if (payload.htu !== htu) throw Object.assign(new Error('htu'), { code: 'HTU_MISMATCH' });
    if (access !== undefined && payload.ath !== ath(access)) throw Object.assign(new Error('ath'), { code: 'ATH_MISMATCH' });
    if ('d' in protectedHeader.jwk) throw Object.assign(new Error('private'), { code: 'PRIVATE_JWK' });
    console.log(JSON.stringify({ jkt: await calculateJwkThumbprint(protectedHeader.jwk), jti: payload.jti }));
    return 0;
  } catch (e) {
    console.log(e.code || e.message);
    return 1;
  }
}

const [cmd, ...args] = process.argv.slice(2);
let status = 0;
switch (cmd) {
  case 'gen':
    await gen(args[0], Number(args[1]), args[2], args[3]);
    break;
  case 'verify':
    status = await verify(args[0], args[1], args[2], Number(args[3]), args[4]);
    break;
  default:
    console.error('usage: node dpop.mjs gen|verify ...');
    status = 2;
}
process.exit(status);
