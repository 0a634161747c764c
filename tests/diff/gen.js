#!/usr/bin/env node
'use strict';
// Generates random Cedar test cases, answers them with the reference
// implementation (@cedar-policy/cedar-wasm) and writes them in the Cedar
// integration-test format.
//
//   node gen.js --seed S --cases N --out DIR [--start K] [--jobs J] [--stats FILE]
//   node gen.js --seed S --only K [--out DIR]     one case (to stdout without --out)
//   --check: answer every case twice (JSON schema + stateful API, and text
//   schema + plain isAuthorized) and reject any case where they differ;
//   by default one case in 64 is checked like that.
//
// Case k of seed S is generated from caseSeed(S, k) alone, so any case can be
// regenerated on its own. Files: DIR/case-<k>.{json,cedar,cedarschema,entities.json};
// the paths inside case-<k>.json are relative to DIR.

require('./lib/v8fix');
const fs = require('fs');
const path = require('path');
const os = require('os');
const { Worker, isMainThread, parentPort, workerData } = require('worker_threads');
const { caseSeed } = require('./lib/rng');
const { generateCase, answerCase, caseFiles } = require('./lib/casegen');

function loadCedar() {
  return require('@cedar-policy/cedar-wasm/nodejs');
}

function newStats() {
  return {
    cases: 0, written: 0, rejected: 0, rejectedByKind: {}, rejectSamples: [], requests: 0,
    allow: 0, deny: 0, withErrors: 0, withReason: 0, errorAndReason: 0, shouldValidate: 0,
    policies: 0, errorPolicyHits: 0, genMs: 0, refMs: 0, writeMs: 0,
  };
}

function merge(a, b) {
  for (const k of Object.keys(b)) {
    if (k === 'rejectedByKind') {
      for (const [kk, v] of Object.entries(b[k])) a[k][kk] = (a[k][kk] || 0) + v;
    } else if (k === 'rejectSamples') {
      a[k] = a[k].concat(b[k]).slice(0, 20);
    } else a[k] += b[k];
  }
  return a;
}

// Generate, answer and (optionally) write cases ks; returns stats.
function runCases(runSeed, ks, outDir, check = false) {
  const cw = loadCedar();
  const st = newStats();
  for (const k of ks) {
    const t0 = process.hrtime.bigint();
    const c = generateCase(caseSeed(runSeed, k));
    const t1 = process.hrtime.bigint();
    const ans = answerCase(cw, c, check);
    const t2 = process.hrtime.bigint();
    st.genMs += Number(t1 - t0) / 1e6;
    st.refMs += Number(t2 - t1) / 1e6;
    st.cases++;
    if (!ans.ok) {
      st.rejected++;
      st.rejectedByKind[ans.kind] = (st.rejectedByKind[ans.kind] || 0) + 1;
      if (st.rejectSamples.length < 20) st.rejectSamples.push({ k, kind: ans.kind, message: ans.message });
      continue;
    }
    st.policies += (c.policies.match(/^(@[^\n]*\n)*(permit|forbid)\b/gm) || []).length;
    if (ans.shouldValidate) st.shouldValidate++;
    for (const a of ans.answers) {
      st.requests++;
      if (a.decision === 'allow') st.allow++;
      else st.deny++;
      if (a.errors.length) st.withErrors++;
      if (a.reason.length) st.withReason++;
      if (a.errors.length && a.reason.length) st.errorAndReason++;
      st.errorPolicyHits += a.errors.length;
    }
    if (outDir) {
      const files = caseFiles('case-' + k, c, ans);
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(outDir, name), text);
      st.written++;
    }
    st.writeMs += Number(process.hrtime.bigint() - t2) / 1e6;
  }
  return st;
}

function parseArgs(argv) {
  const o = { seed: null, cases: 100, start: 0, out: null, jobs: Math.min(2, os.cpus().length || 1), only: null, stats: null, quiet: false, check: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error('missing value for ' + a);
      return argv[++i];
    };
    if (a === '--seed') o.seed = Number(next());
    else if (a === '--cases') o.cases = Number(next());
    else if (a === '--start') o.start = Number(next());
    else if (a === '--out') o.out = next();
    else if (a === '--jobs') o.jobs = Number(next());
    else if (a === '--only') o.only = Number(next());
    else if (a === '--stats') o.stats = next();
    else if (a === '--quiet') o.quiet = true;
    else if (a === '--check') o.check = true;
    else throw new Error('unknown argument ' + a);
  }
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 0xffffffff) throw new Error('--seed must be an integer in [0, 2^32)');
  return o;
}

function summary(st, seconds) {
  const pct = (n, d) => (d ? ((100 * n) / d).toFixed(1) + '%' : '-');
  const good = st.cases - st.rejected;
  return [
    `cases: ${st.cases} generated, ${good} answered, ${st.rejected} rejected by reference (${pct(st.rejected, st.cases)})` +
      (st.rejected ? ' ' + JSON.stringify(st.rejectedByKind) : ''),
    `requests: ${st.requests}; allow ${pct(st.allow, st.requests)}, deny ${pct(st.deny, st.requests)}, ` +
      `non-empty reason ${pct(st.withReason, st.requests)}, non-empty errors ${pct(st.withErrors, st.requests)}, ` +
      `both ${pct(st.errorAndReason, st.requests)}`,
    `policies: ${st.policies} (${(st.policies / Math.max(good, 1)).toFixed(2)}/case); shouldValidate true ${pct(st.shouldValidate, good)}`,
    `time: ${seconds.toFixed(1)}s wall (${(st.cases / Math.max(seconds, 1e-9)).toFixed(0)} cases/s); ` +
      `cpu in generator ${(st.genMs / 1000).toFixed(1)}s, reference ${(st.refMs / 1000).toFixed(1)}s, writing ${(st.writeMs / 1000).toFixed(1)}s`,
  ].join('\n');
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (o.only !== null) {
    const c = generateCase(caseSeed(o.seed, o.only));
    const ans = answerCase(loadCedar(), c, true);
    if (!ans.ok) {
      process.stderr.write(`case ${o.only} of seed ${o.seed} rejected by reference (${ans.kind}): ${ans.message}\n`);
      if (!o.out) {
        process.stdout.write('// schema\n' + c.schema + '\n// policies\n' + c.policies + '\n// entities\n' +
          JSON.stringify(c.entities, null, 1) + '\n// requests\n' + JSON.stringify(c.requests, null, 1) + '\n');
      }
      process.exit(1);
    }
    const files = caseFiles('case-' + o.only, c, ans);
    if (o.out) {
      fs.mkdirSync(o.out, { recursive: true });
      for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(o.out, name), text);
    } else {
      for (const [name, text] of Object.entries(files)) process.stdout.write('==> ' + name + ' <==\n' + text + '\n');
    }
    return;
  }
  if (o.out) fs.mkdirSync(o.out, { recursive: true });
  const t0 = Date.now();
  const ks = [];
  for (let k = o.start; k < o.start + o.cases; k++) ks.push(k);
  let st;
  if (o.jobs <= 1 || ks.length < 50) {
    st = runCases(o.seed, ks, o.out, o.check);
  } else {
    const parts = [];
    for (let j = 0; j < o.jobs; j++) parts.push(ks.filter((_, i) => i % o.jobs === j));
    const results = await Promise.all(parts.map((part) => new Promise((resolve, reject) => {
      const w = new Worker(__filename, { workerData: { seed: o.seed, ks: part, out: o.out, check: o.check } });
      w.on('message', resolve);
      w.on('error', reject);
      w.on('exit', (code) => code && reject(new Error('worker exited with ' + code)));
    })));
    st = results.reduce(merge, newStats());
  }
  const secs = (Date.now() - t0) / 1000;
  st.wallSeconds = secs;
  if (o.stats) fs.writeFileSync(o.stats, JSON.stringify(st, null, 1) + '\n');
  if (!o.quiet) {
    process.stdout.write(`seed ${o.seed}, cases ${o.start}..${o.start + o.cases - 1}\n` + summary(st, secs) + '\n');
    for (const s of st.rejectSamples.slice(0, 5)) process.stdout.write(`  rejected case ${s.k} (${s.kind}): ${s.message}\n`);
  }
}

if (!isMainThread) {
  parentPort.postMessage(runCases(workerData.seed, workerData.ks, workerData.out, workerData.check));
} else if (require.main === module) {
  main().catch((e) => {
    process.stderr.write((e && e.stack) || String(e));
    process.stderr.write('\n');
    process.exit(2);
  });
}

module.exports = { runCases, summary, newStats, merge };
