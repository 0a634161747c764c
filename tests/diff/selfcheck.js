#!/usr/bin/env node
'use strict';
// A stand-in for `mandate cedar run-tests` built on the reference
// (@cedar-policy/cedar-wasm): reads test files in the Cedar integration-test
// format, re-answers every request and compares. Used to check the file
// format end to end, and as `--engine` for run.sh when build/mandate is absent.
//
//   node selfcheck.js [cedar run-tests] --root DIR FILE.json...
//
// Like the Rust harness, entities and contexts are parsed with the schema and
// requests are validated when validateRequest is true (the default). The
// reason and the erroring policy ids are compared as sets. Prints each
// disagreement and ends with `N passed, N failed` (requests; a wrong
// shouldValidate counts as one failure). Exit 0 only if all passed.

require('./lib/v8fix');
const fs = require('fs');
const path = require('path');
const cw = require('@cedar-policy/cedar-wasm/nodejs');

function main(argv) {
  if (argv[0] === 'cedar' && argv[1] === 'run-tests') argv = argv.slice(2);
  let root = '.';
  const files = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--root') root = argv[++i];
    else files.push(argv[i]);
  }
  let passed = 0;
  let failed = 0;
  const setEq = (a, b) => {
    const x = new Set(a);
    const y = new Set(b);
    return x.size === y.size && [...x].every((v) => y.has(v));
  };
  for (const f of files) {
    let t;
    let policies;
    let schema;
    let entities;
    try {
      t = JSON.parse(fs.readFileSync(f, 'utf8'));
      policies = fs.readFileSync(path.join(root, t.policies), 'utf8');
      schema = fs.readFileSync(path.join(root, t.schema), 'utf8');
      entities = JSON.parse(fs.readFileSync(path.join(root, t.entities), 'utf8'));
    } catch (e) {
      console.log(`${f}: cannot load test: ${e.message}`);
      failed += t && Array.isArray(t.requests) ? t.requests.length : 1;
      continue;
    }
    const v = cw.validate({ schema, policies: { staticPolicies: policies }, validationSettings: { mode: 'strict' } });
    const valid = v.type === 'success' && v.validationErrors.length === 0;
    if (valid !== t.shouldValidate) {
      console.log(`${f}: shouldValidate: expected ${t.shouldValidate}, got ${valid}`);
      failed++;
    }
    for (const q of t.requests) {
      const a = cw.isAuthorized({
        principal: q.principal, action: q.action, resource: q.resource, context: q.context,
        policies: { staticPolicies: policies }, entities, schema,
        validateRequest: q.validateRequest !== false,
      });
      if (a.type !== 'success') {
        console.log(`${f}: "${q.description}": error: ${a.errors.map((e) => e.message).join('; ')}`);
        failed++;
        continue;
      }
      const d = a.response.diagnostics;
      const got = { decision: a.response.decision, reason: d.reason, errors: [...new Set(d.errors.map((e) => e.policyId))] };
      const probs = [];
      if (got.decision !== q.decision) probs.push(`decision: expected ${q.decision}, got ${got.decision}`);
      if (!setEq(got.reason, q.reason)) probs.push(`reason: expected ${JSON.stringify(q.reason)}, got ${JSON.stringify(got.reason.sort())}`);
      if (!setEq(got.errors, q.errors)) probs.push(`errors: expected ${JSON.stringify(q.errors)}, got ${JSON.stringify(got.errors.sort())}`);
      if (probs.length) {
        console.log(`${f}: "${q.description}": ${probs.join('; ')}`);
        failed++;
      } else passed++;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

process.exitCode = main(process.argv.slice(2));
