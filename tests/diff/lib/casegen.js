'use strict';
// One test case from one seed, answered by the reference (cedar-wasm).

const { Rng } = require('./rng');
const { genSchema, printSchema, schemaJson } = require('./schema');
const { genPools, genEntities, genRequests } = require('./data');
const { genPolicies } = require('./policy');

function generateCase(seed, opts = {}) {
  const r = new Rng(seed);
  const S = genSchema(r);
  const pools = genPools(r);
  const schema = printSchema(r, S);
  const { json: entities, store } = genEntities(r, S, pools);
  const { text: policies, hints } = genPolicies(r, S, store, pools, r.int(1, 8), opts);
  const requests = genRequests(r, S, store, pools, r.int(4, 8), hints);
  return { seed, schema, schemaJson: schemaJson(S), policies, entities, requests };
}

function firstMsg(errs) {
  return (errs || []).map((e) => e.message).join('; ').slice(0, 300);
}

function classify(msg) {
  if (/parse schema|schema/i.test(msg) && /parse|schema from/i.test(msg)) return 'schema';
  if (/parse polic/i.test(msg)) return 'policies';
  if (/entit/i.test(msg) && !/request/i.test(msg)) return 'entities';
  if (/context/i.test(msg)) return 'context';
  return 'request';
}

// The reference is given the JSON form of the schema, generated from the same
// model as the text (parsing Cedar schema text is the slowest step in
// cedar-wasm). On one case in CROSS_CHECK (and always with check=true) the
// case is answered a second time from the text schema through the plain
// isAuthorized API, and any difference rejects the case as a generator bug.
const CROSS_CHECK = 64;

// Returns {ok:true, shouldValidate, answers:[{decision, reason, errors}]}
// or {ok:false, kind, message}.
function answerCase(cw, c, check = false) {
  const a = answerWith(cw, c, c.schemaJson, true);
  if (!a.ok || !(check || c.seed % CROSS_CHECK === 0)) return a;
  const b = answerWith(cw, c, c.schema, false);
  if (JSON.stringify(a) !== JSON.stringify(b)) {
    return { ok: false, kind: 'generator', message: 'JSON and text schema disagree: ' + JSON.stringify(a).slice(0, 200) + ' vs ' + JSON.stringify(b).slice(0, 200) };
  }
  return a;
}

function answerWith(cw, c, schema, stateful) {
  const staticPolicies = c.policies;
  const v = cw.validate({ schema, policies: { staticPolicies }, validationSettings: { mode: 'strict' } });
  if (v.type !== 'success') {
    const m = firstMsg(v.errors);
    return { ok: false, kind: /polic/i.test(m) && !/schema/i.test(m) ? 'policies' : 'schema', message: m };
  }
  const shouldValidate = v.validationErrors.length === 0;
  if (stateful) {
    const ps = cw.preparsePolicySet('p', { staticPolicies });
    if (ps.type !== 'success') return { ok: false, kind: 'policies', message: firstMsg(ps.errors) };
    const ss = cw.preparseSchema('s', schema);
    if (ss.type !== 'success') return { ok: false, kind: 'schema', message: firstMsg(ss.errors) };
  }
  const answers = [];
  for (const q of c.requests) {
    const call = { principal: q.principal, action: q.action, resource: q.resource, context: q.context, validateRequest: true, entities: c.entities };
    const a = stateful
      ? cw.statefulIsAuthorized(Object.assign(call, { preparsedSchemaName: 's', preparsedPolicySetId: 'p' }))
      : cw.isAuthorized(Object.assign(call, { schema, policies: { staticPolicies } }));
    if (a.type !== 'success') {
      const m = firstMsg(a.errors);
      return { ok: false, kind: classify(m), message: m };
    }
    const d = a.response.diagnostics;
    answers.push({
      decision: a.response.decision,
      reason: d.reason.slice().sort(),
      errors: [...new Set(d.errors.map((e) => e.policyId))].sort(),
    });
  }
  return { ok: true, shouldValidate, validationErrors: v.validationErrors.length, answers };
}

// File contents of a case in the Cedar integration-test format; paths inside
// are relative to the directory the files are written to.
function caseFiles(name, c, ans) {
  const test = {
    policies: name + '.cedar',
    entities: name + '.entities.json',
    schema: name + '.cedarschema',
    shouldValidate: ans.shouldValidate,
    requests: c.requests.map((q, i) => ({
      description: 'Request ' + i,
      principal: q.principal,
      action: q.action,
      resource: q.resource,
      context: q.context,
      validateRequest: true,
      decision: ans.answers[i].decision,
      reason: ans.answers[i].reason,
      errors: ans.answers[i].errors,
    })),
  };
  return {
    [name + '.json']: JSON.stringify(test, null, 2) + '\n',
    [name + '.cedar']: c.policies,
    [name + '.cedarschema']: c.schema,
    [name + '.entities.json']: JSON.stringify(c.entities, null, 1) + '\n',
  };
}

module.exports = { generateCase, answerCase, caseFiles };
