#!/usr/bin/env node
'use strict';
// Orchestrates a differential run (called by run.sh): for each seed, generate
// the cases in chunks into build/diff/, run the engine over them in batches,
// find the cases behind any disagreement and copy them into regressions/.
//
//   node runner.js --repo ROOT --engine CMD [--cases N] [--seed S] [--only K]
//                  [--chunk N] [--batch N] [--jobs N] [--keep]

require('./lib/v8fix');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { spawn } = require('child_process');
const { Worker } = require('worker_threads');
const { summary, newStats, merge } = require('./gen');

const HERE = __dirname;
const FIXED_SEED = 1;

function parseArgs(argv) {
  const o = { repo: null, engine: null, cases: 10000, seed: null, only: null, chunk: 2000, batch: 250, jobs: 2, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error('missing value for ' + a);
      return argv[++i];
    };
    if (a === '--repo') o.repo = next();
    else if (a === '--engine') o.engine = next();
    else if (a === '--cases') o.cases = Number(next());
    else if (a === '--seed') o.seed = Number(next());
    else if (a === '--only' || a === '--case') o.only = Number(next());
    else if (a === '--chunk') o.chunk = Number(next());
    else if (a === '--batch') o.batch = Number(next());
    else if (a === '--jobs') o.jobs = Number(next());
    else if (a === '--keep') o.keep = true;
    else throw new Error('unknown argument ' + a + ' (see tests/diff/README.md)');
  }
  if (!o.repo || !o.engine) throw new Error('--repo and --engine are required');
  if (!Number.isInteger(o.cases) || o.cases < 0) throw new Error('--cases must be a non-negative integer');
  if (o.seed !== null && !(Number.isInteger(o.seed) && o.seed >= 0 && o.seed <= 0xffffffff)) {
    throw new Error('--seed must be an integer in [0, 2^32)');
  }
  if (o.only !== null && o.seed === null) throw new Error('--case needs --seed');
  return o;
}

// Generate cases [start, start+n) of seed into dir, in worker threads.
function generate(seed, start, n, dir, jobs) {
  fs.mkdirSync(dir, { recursive: true });
  const ks = [];
  for (let k = start; k < start + n; k++) ks.push(k);
  const parts = [];
  for (let j = 0; j < Math.max(1, Math.min(jobs, ks.length)); j++) parts.push(ks.filter((_, i) => i % jobs === j));
  return Promise.all(parts.map((part) => new Promise((resolve, reject) => {
    const w = new Worker(path.join(HERE, 'gen.js'), { workerData: { seed, ks: part, out: dir } });
    w.on('message', resolve);
    w.on('error', reject);
    w.on('exit', (code) => code && reject(new Error('generator worker exited with ' + code)));
  }))).then((rs) => rs.reduce(merge, newStats()));
}

const SUMMARY_RE = /^(?:\w+:\s*)?(\d+) passed, (\d+) failed/;

// Run the engine on files (names relative to dir); resolves
// {code, out, passed, failed, summary: bool}.
function runEngine(engine, dir, files) {
  return new Promise((resolve) => {
    const [cmd, ...pre] = engine;
    const p = spawn(cmd, [...pre, 'cedar', 'run-tests', '--root', '.', ...files], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('error', (e) => resolve({ code: 127, signal: null, out: out + String(e) + '\n', passed: 0, failed: 0, summary: false }));
    p.on('close', (code, signal) => {
      let m = null;
      for (const line of out.split('\n')) {
        const mm = SUMMARY_RE.exec(line.trim());
        if (mm) m = mm;
      }
      resolve({
        code, signal, out,
        passed: m ? Number(m[1]) : 0,
        failed: m ? Number(m[2]) : 0,
        summary: !!m,
      });
    });
  });
}

async function pool(items, n, fn) {
  const res = new Array(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(n, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      res[i] = await fn(items[i], i);
    }
  }));
  return res;
}

function requestCount(dir, file) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')).requests.length;
  } catch (e) {
    return 1;
  }
}

const bad = (r) => r.code !== 0 || r.failed > 0 || !r.summary;

// Runs the engine over one chunk dir; returns {passed, failed, failing:[{file,k,out}]}.
async function checkChunk(o, engine, dir) {
  const files = fs.readdirSync(dir).filter((f) => /^case-\d+\.json$/.test(f))
    .sort((a, b) => Number(a.match(/\d+/)[0]) - Number(b.match(/\d+/)[0]));
  const batches = [];
  for (let i = 0; i < files.length; i += o.batch) batches.push(files.slice(i, i + o.batch));
  const results = await pool(batches, o.jobs, (b) => runEngine(engine, dir, b));
  let passed = 0;
  let failed = 0;
  const failing = [];
  for (let i = 0; i < batches.length; i++) {
    const r = results[i];
    if (!bad(r)) {
      passed += r.passed;
      continue;
    }
    // find the culprits one file at a time
    const singles = await pool(batches[i], o.jobs, (f) => runEngine(engine, dir, [f]));
    batches[i].forEach((f, j) => {
      const s = singles[j];
      if (!s.summary) {
        // crashed or printed no summary: count its requests as failed
        failed += requestCount(dir, f);
      } else {
        passed += s.passed;
        failed += s.failed;
      }
      if (bad(s)) failing.push({ file: f, k: Number(f.match(/\d+/)[0]), out: s.out, code: s.code, signal: s.signal });
    });
  }
  return { passed, failed, failing };
}

function saveRegression(seed, f, dir) {
  const dest = path.join(HERE, 'regressions', `${seed}-${f.k}`);
  fs.mkdirSync(dest, { recursive: true });
  const base = f.file.replace(/\.json$/, '');
  for (const ext of ['.json', '.cedar', '.cedarschema', '.entities.json']) {
    fs.copyFileSync(path.join(dir, base + ext), path.join(dest, base + ext));
  }
  const status = f.signal ? `killed by signal ${f.signal}` : `exit code ${f.code}`;
  fs.writeFileSync(path.join(dest, 'engine-output.txt'), `# seed ${seed}, case ${f.k}; engine ${status}\n` + f.out);
  return dest;
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  // the engine runs inside the case directories: make relative paths absolute
  const engine = o.engine.split(/\s+/).filter(Boolean)
    .map((w) => (w.includes('/') && !path.isAbsolute(w) && fs.existsSync(w) ? path.resolve(w) : w));
  let plan;
  if (o.only !== null) plan = [{ seed: o.seed, start: o.only, n: 1 }];
  else if (o.seed !== null) plan = [{ seed: o.seed, start: 0, n: o.cases }];
  else {
    const rnd = crypto.randomBytes(4).readUInt32LE(0);
    plan = [{ seed: FIXED_SEED, start: 0, n: o.cases - Math.floor(o.cases / 2) }, { seed: rnd, start: 0, n: Math.floor(o.cases / 2) }];
    console.log(`seeds: fixed ${FIXED_SEED}, random ${rnd}  (reproduce one with: tests/diff/run.sh --seed ${rnd} --cases ${plan[1].n})`);
  }
  const workRoot = path.join(o.repo, 'build', 'diff');
  fs.mkdirSync(workRoot, { recursive: true });
  const total = newStats();
  let passed = 0;
  let failed = 0;
  const saved = [];
  const t0 = Date.now();
  for (const { seed, start, n } of plan) {
    const st = newStats();
    let sp = 0;
    let sf = 0;
    const ts = Date.now();
    for (let c0 = start; c0 < start + n; c0 += o.chunk) {
      const cn = Math.min(o.chunk, start + n - c0);
      const dir = path.join(workRoot, `${seed}-${c0}`);
      fs.rmSync(dir, { recursive: true, force: true });
      const g = await generate(seed, c0, cn, dir, o.jobs);
      merge(st, g);
      const r = await checkChunk(o, engine, dir);
      sp += r.passed;
      sf += r.failed;
      for (const f of r.failing) {
        const dest = saveRegression(seed, f, dir);
        saved.push(dest);
        const lines = f.out.trim().split('\n');
        console.log(`DISAGREEMENT seed ${seed} case ${f.k}: saved to ${path.relative(o.repo, dest)}/`);
        for (const l of lines.slice(0, 12)) console.log('  | ' + l);
        if (lines.length > 12) console.log(`  | ... (${lines.length - 12} more lines in engine-output.txt)`);
      }
      if (!o.keep) fs.rmSync(dir, { recursive: true, force: true });
      process.stderr.write(`  seed ${seed}: ${c0 + cn - start}/${n} cases, ${sp} passed, ${sf} failed\r`);
    }
    process.stderr.write('\n');
    console.log(`--- seed ${seed} (cases ${start}..${start + n - 1})`);
    console.log(summary(st, (Date.now() - ts) / 1000));
    for (const s of st.rejectSamples.slice(0, 3)) console.log(`  rejected by reference: case ${s.k} (${s.kind}): ${s.message}`);
    console.log(`engine: ${sp} passed, ${sf} failed`);
    merge(total, st);
    passed += sp;
    failed += sf;
  }
  console.log('=== total');
  console.log(`cases ${total.cases}, answered ${total.cases - total.rejected}, rejected by reference ${total.rejected}, ` +
    `requests ${total.requests}; ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  if (saved.length) console.log(`${saved.length} failing case(s) copied to tests/diff/regressions/ (run tests/diff/regress.sh)`);
  console.log(`${passed} passed, ${failed} failed`);
  return failed || saved.length ? 1 : 0;
}

main().then((code) => {
  process.exitCode = code;
}, (e) => {
  console.error((e && e.stack) || String(e));
  process.exitCode = 2;
});
