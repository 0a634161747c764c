// cross.mjs: the npm `jose` side of the cross-check (see run.sh).
//
//   node cross.mjs gen DIR NOW ISS AUD        keys and tokens made by jose, in DIR:
//        jose-jwks.json, jwk-ALG.json, token-ALG.txt for ES256 ES384 EdDSA RS256 PS256,
//        token-ALG-high.txt for ES256 ES384 (the same token in its high-S form),
//        and refusal cases token-{expired,wrong-aud,none,hs256-pubkey,tampered}.txt
//
// jose, like most signers, leaves an ECDSA signature's s as it comes: high (s > n/2) half
// the time.  mandate accepts only the low-S form unless told otherwise (no malleable
// tokens), so the ECDSA tokens are written in both forms, each checked for what it is.
//   node cross.mjs verify JWKS TOKEN NOW ISS AUD TYP
//        jwtVerify with jose; prints the payload (exit 0) or the error code (exit 1)
//   node cross.mjs thumbprint JWK.json        jose's RFC 7638 thumbprint
//   node cross.mjs kids JWKS                  "kid thumbprint" for each key of a JWKS
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  SignJWT, UnsecuredJWT, calculateJwkThumbprint, createLocalJWKSet, exportJWK, exportSPKI,
  generateKeyPair, jwtVerify,
} from 'jose';

const ALGS = ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'];
// the orders n of P-256 and P-384
const ORDER = {
  ES256: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
  ES384: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
};

// The token with its ECDSA signature in the low-S (high = false) or high-S form: s or n - s.
function ecdsaForm(token, alg, high) {
  const [h, p, sig] = token.split('.');
  const raw = Buffer.from(sig, 'base64url');
  const half = raw.length / 2, n = ORDER[alg];
  let s = BigInt(`0x${raw.subarray(half).toString('hex')}`);
  if ((s > n / 2n) !== high) s = n - s;
  Buffer.from(s.toString(16).padStart(2 * half, '0'), 'hex').copy(raw, half);
  return `${h}.${p}.${raw.toString('base64url')}`;
}
const [cmd, ...args] = process.argv.slice(2);

async function gen(dir, now, iss, aud) {
  const keys = [];
  let es256;
  for (const alg of ALGS) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true, modulusLength: 2048 });
    const jwk = await exportJWK(publicKey);
    writeFileSync(join(dir, `jwk-${alg}.json`), JSON.stringify(jwk));
    jwk.kid = await calculateJwkThumbprint(jwk);
    jwk.alg = alg;
    jwk.use = 'sig';
    keys.push(jwk);
    const token = await new SignJWT({ sub: 'spiffe://td/agent/x', scope: 'tools:read' })
      .setProtectedHeader({ alg, kid: jwk.kid, typ: 'at+jwt' })
      .setIssuer(iss).setAudience(aud).setIssuedAt(now).setExpirationTime(now + 300)
      .sign(privateKey);
    if (ORDER[alg]) {
      writeFileSync(join(dir, `token-${alg}.txt`), ecdsaForm(token, alg, false));
      writeFileSync(join(dir, `token-${alg}-high.txt`), ecdsaForm(token, alg, true));
    } else {
      writeFileSync(join(dir, `token-${alg}.txt`), token);
    }
    if (alg === 'ES256') es256 = { publicKey, privateKey, kid: jwk.kid };
  }
  writeFileSync(join(dir, 'jose-jwks.json'), JSON.stringify({ keys }));

  const hdr = { alg: 'ES256', kid: es256.kid, typ: 'at+jwt' };
  const write = (name, token) => writeFileSync(join(dir, `token-${name}.txt`), token);
  // ES256 tokens in their low-S form, so that each is refused for the reason it was made for
  const low = (token) => ecdsaForm(token, 'ES256', false);
  write('expired', low(await new SignJWT({ sub: 'a' }).setProtectedHeader(hdr).setIssuer(iss).setAudience(aud)
    .setIssuedAt(now - 3600).setExpirationTime(now - 120).sign(es256.privateKey)));
  write('wrong-aud', low(await new SignJWT({ sub: 'a' }).setProtectedHeader(hdr).setIssuer(iss)
    .setAudience('someone-else').setIssuedAt(now).setExpirationTime(now + 300).sign(es256.privateKey)));
  write('none', new UnsecuredJWT({ sub: 'a' }).setIssuer(iss).setAudience(aud).setIssuedAt(now)
    .setExpirationTime(now + 300).encode());
  // Key confusion: HMAC keyed with the published ES256 public key (SPKI PEM).
  const secret = new TextEncoder().encode(await exportSPKI(es256.publicKey));
  write('hs256-pubkey', await new SignJWT({ sub: 'a' }).setProtectedHeader({ ...hdr, alg: 'HS256' })
    .setIssuer(iss).setAudience(aud).setIssuedAt(now).setExpirationTime(now + 300).sign(secret));
  // A good token whose payload is swapped for another one's.
  const good = readFileSync(join(dir, 'token-ES256.txt'), 'utf8').split('.');
  const evil = Buffer.from(JSON.stringify({ sub: 'spiffe://td/agent/root', iss, aud, exp: now + 300 }))
    .toString('base64url');
  write('tampered', `${good[0]}.${evil}.${good[2]}`);
}

async function verify(jwksPath, token, now, iss, aud, typ) {
  const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksPath, 'utf8')));
  try {
    const { payload } = await jwtVerify(token, jwks, {
      issuer: iss, audience: aud, typ, currentDate: new Date(now * 1000),
      algorithms: ['ES256', 'EdDSA'], requiredClaims: ['exp', 'iat'],
    });
    console.log(JSON.stringify(payload));
    return 0;
  } catch (e) {
    console.log(e.code || e.message);
    return 1;
  }
}

let status = 0;
switch (cmd) {
  case 'gen':
    await gen(args[0], Number(args[1]), args[2], args[3]);
    break;
  case 'verify':
    status = await verify(args[0], args[1], Number(args[2]), args[3], args[4], args[5]);
    break;
  case 'thumbprint':
    console.log(await calculateJwkThumbprint(JSON.parse(readFileSync(args[0], 'utf8'))));
    break;
  case 'kids':
    for (const k of JSON.parse(readFileSync(args[0], 'utf8')).keys) console.log(k.kid, await calculateJwkThumbprint(k));
    break;
  default:
    console.error('usage: node cross.mjs gen|verify|thumbprint|kids ...');
    status = 2;
}
process.exit(status);
