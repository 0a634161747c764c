// verify.mjs: the npm `jose` side of tests/e2e/workload/run.sh.
//
//   node verify.mjs JWKS_FILE TOKEN ISSUER AUDIENCE SUB
//        jwtVerify (ES256 only, typ JWT, the issuer and audience given, the subject
//        given) against the JWKS the daemon served on GET /v1/bundle; prints
//        "verified <payload JSON>" and exits 0, or "refused <jose error code>" and exits 1.
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify } from 'jose';

const [jwksFile, token, issuer, audience, subject] = process.argv.slice(2);
const jwks = createLocalJWKSet(JSON.parse(readFileSync(jwksFile, 'utf8')));
try {
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    algorithms: ['ES256'], typ: 'JWT', issuer, audience, subject, requiredClaims: ['iat', 'exp', 'jti'],
  });
  console.log(`verified ${JSON.stringify(payload)} ${JSON.stringify(protectedHeader)}`);
} catch (e) {
  console.log(`refused ${e.code ?? e.name}: ${e.message}`);
  process.exit(1);
}
